import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { GpuValidationError } from '../errors.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { quantFormats, rowBytes, type QuantName } from '../quant/index.js';
import { integerDotFormat } from '../quant/dot-input.js';
import { GEMM_TILE, GEMM_WIDE_TILE, gemmShape, gemmStagesF16, integerProducts } from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';
import { weightChunks, type WeightBinding } from './weight-binding.js';

export type GemmShape = 'wide' | 'wide8' | 'gpu' | 'cpu';

/** x (m, k) f32, w (n, k) in the kernel's format -> out (m, n) f32 = x · wᵀ. */
export interface GemmArgs {
  w: WeightBinding;
  x: Binding;
  out: Binding;
  m: number;
  n: number;
  k: number;
  /**
   * (m, k / 32) f32, for the q8_1 variant: per block of x, what its q8_1 sum adds
   * (DotInputRounding 'q8_1' writes it beside the rounded x).
   */
  corrections?: Binding;
}

export interface GemmOptions extends KernelOptions {
  /** Weight format as GGUF stores it (default F32). */
  format?: QuantName;
  /** Bytes one weight binding may span; defaults to maxStorageBufferBindingSize. */
  bindingLimit?: number;
  /**
   * The shape: 'wide' (main at 64 x 64 tiles, 16 x 16 invocations of 4 x 4 outputs), 'wide8'
   * (main_8x8 at 64 x 64, 8 x 8 invocations of 8 x 8), 'gpu' (main at 32 x 32, 8 x 8 of 4 x 4)
   * or 'cpu' (main_8x8 at 32 x 32, 4 x 4 of 8 x 8); by default tuning.ts's gemmShape for the
   * adapter. The 64-wide tiles take no q8_1 inputs. The checks run every shape on every
   * adapter ('wide' at every format only on hardware ones: KernelCase hardwareOnly).
   */
  shape?: GemmShape;
  /**
   * What x is rounded to, as llama.cpp rounds a matmul's input for the weights (default 'f32':
   * taken as it is). 'q8_0', 'q8_k', 'f16', 'bf16': rounded as it is staged, no pass before
   * ('q8_k' for weights of 256-value blocks, k a multiple of 256). 'q8_1': x
   * was rounded to q8_1 by DotInputRounding (Q4_1, Q5_1 weights), and each block's offset meets
   * the block's sum through GemmArgs.corrections.
   */
  input?: 'f32' | 'q8_0' | 'q8_1' | 'q8_k' | 'f16' | 'bf16';
  /**
   * Products of 8-bit integers (gemm.wgsl's main_idot): x rounded to the weights' own q8_0 or
   * q8_k as it is staged, the weights staged as their integers. Needs WGSL's
   * packed_4x8_integer_dot_product and main's tile ('wide' or 'gpu'). Default: tuning.ts's
   * integerProducts.
   */
  integerDot?: boolean;
  /**
   * Stage the tiles as f16s (F16 weights with x rounded to f16: the same values exactly),
   * multiplied in f32. Needs shader-f16; main's and main_8x8's tiles. Default: tuning.ts's
   * gemmStagesF16.
   */
  stageF16?: boolean;
}

/**
 * shaders/gemm.wgsl: prefill matrix multiply, 32 x 32 or 64 x 64 output tiles staged through
 * workgroup memory, weights dequantized once per tile. Weights past one binding split like
 * matvec's.
 */
export class Gemm {
  private constructor(
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
    readonly format: QuantName,
    readonly input: NonNullable<GemmOptions['input']>,
    private readonly bindingLimit: number,
    private readonly alignment: number,
    private readonly maxWorkgroups: number,
    /** Output rows and columns one workgroup computes. */
    private readonly tile: number,
  ) {}

  static async load(gpu: GpuContext, options: GemmOptions = {}): Promise<Gemm> {
    const { format = 'F32', input = 'f32' } = options;
    if (input === 'q8_1' && !quantFormats[format].blockOffsets) {
      throw new RangeError(`gemm: q8_1 inputs are for weights with block offsets, not ${format}`);
    }
    if (input === 'q8_k' && quantFormats[format].blockValues !== 256) {
      throw new RangeError(`gemm: q8_k input rounding is for 256-value blocks, not ${format}`);
    }
    const limits = gpu.facts.limits;
    const shape = options.shape ?? gemmShape(gpu.facts, input);
    const wide = shape === 'wide' || shape === 'wide8';
    if (wide && input === 'q8_1') {
      throw new RangeError(`gemm: the '${shape}' shape takes no q8_1 inputs: use 'gpu'`);
    }
    const tile = wide ? GEMM_WIDE_TILE : GEMM_TILE;
    const eights = shape === 'cpu' || shape === 'wide8';
    const integerDot = options.integerDot ?? (!eights && integerProducts(gpu.facts, format, input));
    if (integerDot && (!integerDotFormat(format, input) || eights)) {
      throw new RangeError(
        `gemm: integer products are for x rounded to the weights' own q8_0 or q8_k as staged, ` +
          `on the 'wide' or 'gpu' shape, not ${format} with ${input} inputs on '${shape}'`,
      );
    }
    const stageF16 = options.stageF16 ?? (!integerDot && gemmStagesF16(gpu.facts, format, input));
    if (stageF16 && (format !== 'F16' || input !== 'f16' || integerDot)) {
      throw new RangeError(
        `gemm: f16 tiles are for F16 weights with x rounded to f16 (the values f16s exactly) ` +
          `and float products, not ${format} with ${input} inputs${integerDot ? ' as integers' : ''}`,
      );
    }
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'gemm',
      weights: format,
      activations: options.activations,
      shape:
        `t${tile}${eights ? '_8x8' : ''}${input === 'f32' ? '' : `_in${input.replace('_', '')}`}` +
        (integerDot ? '_idot' : '') +
        (stageF16 ? '_s16' : ''),
      defines: {
        Q8_1_SUMS: input === 'q8_1',
        ROUND_Q8: input === 'q8_0',
        ROUND_Q8_K: input === 'q8_k',
        ROUND_F16: input === 'f16',
        ROUND_BF16: input === 'bf16',
        INT_DOT: integerDot,
        STAGE_F16: stageF16,
      },
      overrides: { TILE: tile },
      ...(eights && { entryPoint: 'main_8x8' }),
      ...(integerDot && { entryPoint: 'main_idot' }),
    });
    return new Gemm(
      key,
      pipeline,
      format,
      input,
      Math.min(options.bindingLimit ?? Infinity, limits.maxStorageBufferBindingSize),
      limits.minStorageBufferOffsetAlignment,
      limits.maxComputeWorkgroupsPerDimension,
      tile,
    );
  }

  /** Field for field with `struct Params` in gemm.wgsl. */
  static params(
    m: number,
    n: number,
    k: number,
    rowBytes: number,
    colOffset: number,
    outStride: number,
  ): Uint32Array {
    return new Uint32Array([m, n, k, rowBytes, colOffset, outStride, 0, 0]);
  }

  encode(batch: ComputeBatch, { w, x, out, m, n, k, corrections }: GemmArgs): void {
    const bytesPerRow = rowBytes(quantFormats[this.format], k);
    if ((this.input === 'q8_1') !== (corrections !== undefined)) {
      throw new RangeError(`${this.key.name}: corrections go with q8_1 inputs, and only with them`);
    }
    const tilesM = Math.ceil(m / this.tile);
    if (tilesM > this.maxWorkgroups) {
      throw new GpuValidationError(
        `gemm: ${m} rows of x need ${tilesM} tiles, over ${this.maxWorkgroups}`,
      );
    }
    for (const { start, count, binding } of weightChunks(
      w,
      n,
      bytesPerRow,
      this.bindingLimit,
      this.alignment,
    )) {
      const tilesN = Math.ceil(count / this.tile);
      if (tilesN > this.maxWorkgroups) {
        throw new GpuValidationError(
          `gemm: ${count} weight rows need ${tilesN} tiles, over ${this.maxWorkgroups}`,
        );
      }
      batch.dispatch(
        this.pipeline,
        Gemm.params(m, count, k, bytesPerRow, start, n),
        corrections ? [binding, x, out, corrections] : [binding, x, out],
        [tilesN, tilesM],
      );
    }
  }
}
