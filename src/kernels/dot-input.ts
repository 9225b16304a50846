import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { DOT_INPUT_BLOCK, type DotInput } from '../quant/dot-input.js';
import { itemGrid } from './elementwise.js';
import { DOT_INPUT_WORKGROUP } from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';

/** x (n,) -> out (n,), n a multiple of the kind's block; out must not alias x. */
export interface DotInputArgs {
  x: Binding;
  out: Binding;
  n: number;
  /** q8_1: (n / 32,) f32, each block's correction for Gemm's q8_1 variant. */
  corrections?: Binding;
}

/**
 * shaders/dot_input.wgsl: a matmul input rounded as llama.cpp rounds it for weights of one
 * format (8-bit blocks, f16 or bf16), so the matvec and GEMM that follow give llama.cpp's
 * numbers. Not for 'f32', which needs no pass.
 */
export class DotInputRounding {
  private constructor(
    private readonly gpu: GpuContext,
    readonly kind: Exclude<DotInput, 'f32'>,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
  ) {}

  static async load(
    gpu: GpuContext,
    kind: Exclude<DotInput, 'f32'>,
    options: KernelOptions = {},
  ): Promise<DotInputRounding> {
    const { key, pipeline } = await loadVariant(gpu, {
      family: `dot_input_${kind}`,
      shader: 'dot_input.wgsl',
      entryPoint: `dot_${kind}`,
      activations: options.activations,
      workgroupSize: DOT_INPUT_WORKGROUP,
    });
    return new DotInputRounding(gpu, kind, key, pipeline);
  }

  encode(batch: ComputeBatch, { x, out, n, corrections }: DotInputArgs): void {
    const block = this.kind === 'f16' || this.kind === 'bf16' ? 1 : DOT_INPUT_BLOCK[this.kind];
    if (n % block !== 0) {
      throw new RangeError(`${this.key.name}: ${n} values are not whole blocks of ${block}`);
    }
    if ((this.kind === 'q8_1') !== (corrections !== undefined)) {
      throw new RangeError(`${this.key.name}: corrections are q8_1's output, and only q8_1's`);
    }
    batch.dispatch(
      this.pipeline,
      new Uint32Array([n, 0, 0, 0]),
      corrections ? [x, out, corrections] : [x, out],
      itemGrid(this.gpu, n / block, DOT_INPUT_WORKGROUP),
    );
  }
}
