import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { packParams } from '../gpu/params.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { itemGrid } from './elementwise.js';
import type { RopeConfig } from './reference/rope.js';
import { ELEMENTWISE_WORKGROUP } from './tuning.js';
import { pipelineKey, type KernelOptions } from './variant.js';

export type { RopeConfig };

/** x (tokens, heads, headDim) rotated in place by positions (tokens,) u32. */
export interface RopeArgs {
  x: Binding;
  positions: Binding;
  tokens: number;
}

/** shaders/rope.wgsl: rotary embedding, normal or NeoX pairs, linear position scaling. */
export class Rope {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
    readonly config: RopeConfig,
  ) {}

  static async load(
    gpu: GpuContext,
    config: RopeConfig,
    options: KernelOptions = {},
  ): Promise<Rope> {
    if (config.ropeDims % 2 !== 0 || config.ropeDims > config.headDim) {
      throw new RangeError(
        `rope dims must be even and ≤ head dim ${config.headDim}, got ${config.ropeDims}`,
      );
    }
    const key = pipelineKey(gpu.facts, {
      family: 'rope',
      activations: options.activations,
      workgroupSize: ELEMENTWISE_WORKGROUP,
    });
    return new Rope(gpu, key, await gpu.pipelines.get(key), config);
  }

  /** Field for field with `struct Params` in rope.wgsl. */
  static params(tokens: number, c: RopeConfig): Uint8Array {
    return packParams([
      { u32: tokens },
      { u32: c.heads },
      { u32: c.headDim },
      { u32: c.ropeDims },
      { f32: c.freqBase },
      { f32: c.freqScale },
      { u32: c.neox ? 1 : 0 },
    ]);
  }

  encode(batch: ComputeBatch, { x, positions, tokens }: RopeArgs): void {
    const pairs = tokens * this.config.heads * (this.config.ropeDims / 2);
    batch.dispatch(
      this.pipeline,
      Rope.params(tokens, this.config),
      [x, positions],
      itemGrid(this.gpu, pairs, ELEMENTWISE_WORKGROUP),
    );
  }
}
