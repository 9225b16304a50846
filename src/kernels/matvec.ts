import type { Binding, ComputeBatch } from '../gpu/batch.js';
import { workgroupGrid } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { quantFormats, rowBytes, type DotInput, type QuantName } from '../quant/index.js';
import { dotInput, integerDotFormat } from '../quant/dot-input.js';
import {
  integerProducts,
  matvecStagesX,
  matvecSubgroupsPerRow,
  matvecThreadsPerRow,
  MATVEC_WORKGROUP,
} from './tuning.js';
import { GpuValidationError } from '../errors.js';
import { weightChunks, type WeightBinding } from './weight-binding.js';
import { loadVariant, type KernelOptions, type LoadedVariant } from './variant.js';

/** The largest batch one matvec dispatch serves (MAX_M in matvec.wgsl). */
export const MATVEC_MAX_BATCH = 8;

/**
 * x (batch, cols), w (rows, cols) in the kernel's format, rows `rowBytes(format, cols)` apart
 * -> out (batch, rows). For the gate-up variant w holds the gate rows, then the up rows.
 */
export interface MatvecArgs {
  /** The weights: a whole buffer, or a buffer and the byte offset the matrix starts at. */
  w: WeightBinding;
  x: Binding;
  out: Binding;
  rows: number;
  cols: number;
  /** (rows,) f32, for the bias variant. */
  bias?: Binding;
  /** (batch, rows) activations added to the outputs, for the residual variant. */
  residual?: Binding;
  /** The qkv variant's outputs besides `out` (q) and its rotary layout. */
  qkv?: QkvArgs;
}

/**
 * Wq, Wk and Wv back to back in `w` (rows = qRows + 2 kvRows): q (batch, qRows) into `out` and
 * k into `k`, both rotated by `rope`'s angles (a row per batch entry, as Rope.cache gives them);
 * v (batch, kvRows) into `v`.
 */
export interface QkvArgs {
  k: Binding;
  v: Binding;
  /** (batch, ropeDims / 2, 2) f32: each entry's cos and sin per pair. */
  rope: Binding;
  qRows: number;
  kvRows: number;
  headDim: number;
  ropeDims: number;
  neox: boolean;
}

/**
 * What the matvec fuses: 'bias' adds a bias vector (Qwen2's q/k/v); 'residual' adds each batch
 * entry's own vector (the residual stream a projection writes back into); 'gate_up' computes
 * silu(gate · x) * (up · x) from gate and up matrices stored back to back (SwiGLU); 'qkv' and
 * 'qkv_bias' project q, k and v from their matrices stored back to back and rotate q and k
 * (QkvArgs), with or without a bias.
 */
export type MatvecFusion = 'none' | 'bias' | 'residual' | 'gate_up' | 'qkv' | 'qkv_bias';

export interface MatvecOptions extends KernelOptions {
  /** Weight format as GGUF stores it (default F32). */
  format?: QuantName;
  /** Vectors per dispatch, 1..8 (default 1). */
  batch?: number;
  /** Bytes one weight binding may span; defaults to maxStorageBufferBindingSize. */
  bindingLimit?: number;
  fusion?: MatvecFusion;
  /** gate_up's gate: 'silu' (SwiGLU, default) or 'gelu' (GeGLU: Gemma, GELU as llama.cpp's CPU). */
  activation?: 'silu' | 'gelu';
  /**
   * How x is rounded as it is loaded, as llama.cpp rounds a matmul's input for these weights
   * (dotInput[format]; default 'f32': as it is). 'q8_k' takes rows of at most
   * MATVEC_Q8_K_MAX_COLS values (longer ones need DotInputRounding first).
   */
  input?: DotInput;
  /**
   * Invocations per workgroup, a power of two from 32 to 256 that the invocations per row
   * divide (default MATVEC_WORKGROUP): benchmarks compare sizes with it.
   */
  workgroup?: number;
  /**
   * Products of 8-bit integers (dot4I8Packed): x rounded to q8_0 or q8_k as it is loaded (the
   * format's own `input`, which this needs) and the weights decoded to their integers, scaled
   * once per 16 or 32 values. Needs the adapter's packed_4x8_integer_dot_product; for every
   * format whose input is q8_0 or q8_k. Default: tuning.ts's integerProducts.
   */
  integerDot?: boolean;
  /**
   * The row length the variant is for: with subgroups on a GPU, long rows take several
   * subgroups per lane group (tuning.ts's matvecSubgroupsPerRow), and x staged in workgroup
   * memory (stageX) is sized by it: such a variant takes rows of this length only. Without
   * staging, any length runs on any variant.
   */
  cols?: number;
  /**
   * Subgroups per lane group (two rows), 1, 2 or 4: their sums meet in workgroup memory.
   * Without subgroups of one fixed size, the invocations per row times this. Default: from
   * tuning.ts, for `cols`.
   */
  subgroupsPerRow?: number;
  /**
   * Round x once per workgroup into workgroup memory, for the integer products (the variant
   * then takes rows of exactly `cols` values, and M x cols must fit the workgroup memory:
   * matvecStagedXFits). Default: tuning.ts's matvecStagesX where it fits.
   */
  stageX?: boolean;
}

/** Workgroup memory a staged unit of x takes: 32 integers, its scale and its two sums. */
const STAGED_UNIT_BYTES = 48;

/**
 * Whether a matvec of `workgroup` invocations can stage `batch` rows of `cols` values of x in
 * `limit` bytes of workgroup memory, beside its other workgroup arrays (counted at the most
 * any variant declares: q8_k's block scales, the workgroup path's or the subgroups' sums).
 */
export function matvecStagedXFits(
  cols: number,
  batch: number,
  workgroup: number,
  limit: number,
): boolean {
  const others = 4 * (2 * workgroup * batch + workgroup + 128 * batch);
  return cols > 0 && cols % 32 === 0 && others + STAGED_UNIT_BYTES * batch * (cols / 32) <= limit;
}

/** The longest rows a matvec rounds to q8_k as it loads them (Q8_K_MAX_BLOCKS in matvec.wgsl). */
export const MATVEC_Q8_K_MAX_COLS = 128 * 256;

/**
 * shaders/matvec.wgsl: decode-time matrix-vector product with weights dequantized in
 * registers. Matrices larger than one storage binding are split by rows over several
 * dispatches, each binding its own aligned slice of the weights (weightChunks).
 */
export class Matvec {
  private constructor(
    readonly variant: LoadedVariant,
    readonly format: QuantName,
    readonly batch: number,
    readonly fusion: MatvecFusion,
    readonly input: DotInput,
    /** Output rows per workgroup. */
    readonly rowsPerWorkgroup: number,
    private readonly bindingLimit: number,
    private readonly offsetAlignment: number,
    /** The row length x is staged for (stageX), else 0: any. */
    readonly stagedCols: number,
  ) {}

  static async load(gpu: GpuContext, options: MatvecOptions = {}): Promise<Matvec> {
    const { format = 'F32', batch = 1, fusion = 'none', input = 'f32' } = options;
    const gelu = fusion === 'gate_up' && options.activation === 'gelu';
    if (input === 'q8_k' && quantFormats[format].blockValues !== 256) {
      throw new RangeError(`matvec: q8_k input rounding is for 256-value blocks, not ${format}`);
    }
    if ((input === 'q8_0' || input === 'q8_1') && quantFormats[format].blockValues === 1) {
      throw new RangeError(
        `matvec: ${input} input rounding needs 32-value units, not ${format} rows`,
      );
    }
    if (input === 'q8_1' && !quantFormats[format].blockOffsets) {
      throw new RangeError(`matvec: q8_1 inputs are for weights with block offsets, not ${format}`);
    }
    if (!Number.isInteger(batch) || batch < 1 || batch > MATVEC_MAX_BATCH) {
      throw new RangeError(`matvec batch must be 1..${MATVEC_MAX_BATCH}, got ${batch}`);
    }
    const { limits, features, subgroupMinSize, subgroupMaxSize } = gpu.facts;
    const integerDot = options.integerDot ?? integerProducts(gpu.facts, format, input);
    if (integerDot && !integerDotFormat(format, input)) {
      throw new RangeError(
        `matvec: integer products are for x rounded to q8_0 or q8_k as the weights' format ` +
          `has it (${format}'s is ${dotInput[format]}), not ${format} with ${input} inputs`,
      );
    }
    const workgroup = options.workgroup ?? MATVEC_WORKGROUP;
    if (![32, 64, 128, 256].includes(workgroup)) {
      throw new RangeError(`matvec workgroup must be 32, 64, 128 or 256, got ${workgroup}`);
    }
    // A subgroup per row needs one fixed subgroup size that divides the workgroup.
    const subgroupRows =
      features.subgroups &&
      subgroupMinSize === subgroupMaxSize &&
      subgroupMinSize > 0 &&
      workgroup % subgroupMinSize === 0;
    // By default as many as the row length wants (tuning.ts) and the workgroup holds.
    const subgroupsPerRow =
      options.subgroupsPerRow ??
      (subgroupRows
        ? Math.min(
            matvecSubgroupsPerRow(gpu.facts, options.cols ?? 0, subgroupMinSize),
            workgroup / subgroupMinSize,
          )
        : 1);
    if (![1, 2, 4].includes(subgroupsPerRow)) {
      throw new RangeError(`matvec subgroupsPerRow must be 1, 2 or 4, got ${subgroupsPerRow}`);
    }
    const perRow =
      subgroupsPerRow * (subgroupRows ? subgroupMinSize : matvecThreadsPerRow(gpu.facts));
    if (workgroup % perRow !== 0) {
      throw new RangeError(`matvec workgroup ${workgroup} is not whole rows of ${perRow}`);
    }
    const cols = options.cols ?? 0;
    const fits = matvecStagedXFits(cols, batch, workgroup, limits.maxComputeWorkgroupStorageSize);
    const stageX = options.stageX ?? (integerDot && fits && matvecStagesX(gpu.facts));
    if (stageX && (!integerDot || !fits)) {
      throw new RangeError(
        `matvec: x is staged for the integer products, in rows of a known length (cols) whose ` +
          `${batch} rows fit the workgroup memory (${limits.maxComputeWorkgroupStorageSize} ` +
          `bytes), not ${integerDot ? `${batch} x ${cols} values` : 'float products'}`,
      );
    }
    const variant = await loadVariant(
      gpu,
      {
        family: 'matvec',
        weights: format,
        activations: options.activations,
        shape:
          `m${batch}_r${perRow}` +
          (fusion === 'none' ? '' : `_${fusion.replaceAll('_', '')}`) +
          (input === 'f32' ? '' : `_in${input.replace('_', '')}`) +
          (gelu ? '_gelu' : '') +
          (integerDot ? '_idot' : '') +
          (stageX ? `_xs${cols / 32}` : ''),
        subgroups: subgroupRows,
        workgroupSize: workgroup,
        defines: {
          BIAS: fusion === 'bias' || fusion === 'qkv_bias',
          RESIDUAL: fusion === 'residual',
          GATE_UP: fusion === 'gate_up',
          GELU: gelu,
          QKV: fusion === 'qkv' || fusion === 'qkv_bias',
          ROUND_Q8: input === 'q8_0' || input === 'q8_1',
          Q8_1_SUMS: input === 'q8_1',
          ROUND_Q8_K: input === 'q8_k',
          ROUND_F16: input === 'f16',
          ROUND_BF16: input === 'bf16',
          INT_DOT: integerDot,
          X_STAGED: stageX,
          // Block formats' rows are whole 32-value units: x loads four values at a time.
          X_VEC4: quantFormats[format].blockValues !== 1,
        },
        overrides: {
          M: batch,
          T: perRow,
          SG: subgroupRows ? subgroupMinSize : perRow,
          ...(stageX && { XS_UNITS: cols / 32 }),
        },
      },
      options,
    );
    const bindingLimit = Math.min(
      options.bindingLimit ?? limits.maxStorageBufferBindingSize,
      limits.maxStorageBufferBindingSize,
    );
    return new Matvec(
      variant,
      format,
      batch,
      fusion,
      input,
      // Each lane group takes two rows (a gate row and its up row for gate_up).
      (fusion === 'gate_up' ? 1 : 2) * (workgroup / perRow),
      bindingLimit,
      limits.minStorageBufferOffsetAlignment,
      stageX ? cols : 0,
    );
  }

  /** Field for field with `struct Params` in matvec.wgsl. */
  static params(
    rows: number,
    cols: number,
    rowBytes: number,
    rowOffset: number,
    outStride: number,
    upOffset = 0,
    qkv?: QkvArgs,
  ): Uint32Array {
    return new Uint32Array([
      rows,
      cols,
      rowBytes,
      rowOffset,
      outStride,
      upOffset,
      qkv?.qRows ?? 0,
      qkv?.kvRows ?? 0,
      qkv?.headDim ?? 0,
      qkv?.ropeDims ?? 0,
      qkv?.neox ? 1 : 0,
      0,
    ]);
  }

  encode(batch: ComputeBatch, { w, x, out, rows, cols, bias, residual, qkv }: MatvecArgs): void {
    const { pipeline, maxWorkgroups } = this.variant;
    const bytesPerRow = rowBytes(quantFormats[this.format], cols);
    if (this.stagedCols && cols !== this.stagedCols) {
      throw new RangeError(
        `${this.variant.key.name}: stages x for rows of ${this.stagedCols} values, not ${cols}`,
      );
    }
    if (this.input === 'q8_k' && cols > MATVEC_Q8_K_MAX_COLS) {
      throw new RangeError(
        `${this.variant.key.name}: rounds rows of up to ${MATVEC_Q8_K_MAX_COLS} values to q8_k, ` +
          `not ${cols}: round x with DotInputRounding and load it as it is`,
      );
    }
    const biased = this.fusion === 'bias' || this.fusion === 'qkv_bias';
    const added = biased ? bias : this.fusion === 'residual' ? residual : undefined;
    if ((biased || this.fusion === 'residual') && !added) {
      const name = biased ? 'bias' : 'residual';
      throw new GpuValidationError(`matvec: the ${this.fusion} variant needs args.${name}`);
    }
    const extra = added ? [added] : [];
    const grid = (count: number) =>
      workgroupGrid(Math.ceil(count / this.rowsPerWorkgroup), maxWorkgroups);
    if (this.fusion === 'qkv' || this.fusion === 'qkv_bias') {
      if (!qkv) throw new GpuValidationError(`matvec: the ${this.fusion} variant needs args.qkv`);
      if (rows !== qkv.qRows + 2 * qkv.kvRows || qkv.headDim % 2 !== 0) {
        throw new RangeError(
          `matvec ${this.fusion}: ${rows} rows are not q ${qkv.qRows} + k and v ${qkv.kvRows} each of even heads`,
        );
      }
      const [whole] = weightChunks(w, rows, bytesPerRow, Infinity, this.offsetAlignment);
      if (whole.binding.size > this.bindingLimit) {
        throw new GpuValidationError(
          `matvec ${this.fusion}: q, k and v weights take ${whole.binding.size} bytes, over one ` +
            `${this.bindingLimit}-byte binding: project them one by one`,
        );
      }
      batch.dispatch(
        pipeline,
        Matvec.params(rows, cols, bytesPerRow, 0, qkv.qRows, 0, qkv),
        [whole.binding, x, out, qkv.k, qkv.v, qkv.rope, ...extra],
        // A lane group per pair of rows, as for a plain matvec.
        grid(rows),
      );
      return;
    }
    if (this.fusion === 'gate_up') {
      // Gate and up rows sit in one binding, up `rows` rows after gate: no row split.
      const [whole] = weightChunks(w, 2 * rows, bytesPerRow, Infinity, this.offsetAlignment);
      if (whole.binding.size > this.bindingLimit) {
        throw new GpuValidationError(
          `matvec gate_up: gate and up weights take ${whole.binding.size} bytes, over one ` +
            `${this.bindingLimit}-byte binding: run them as two matvecs and silu_mul`,
        );
      }
      const params = Matvec.params(rows, cols, bytesPerRow, 0, rows, rows * bytesPerRow);
      batch.dispatch(pipeline, params, [whole.binding, x, out], grid(rows));
      return;
    }
    const chunks = weightChunks(w, rows, bytesPerRow, this.bindingLimit, this.offsetAlignment);
    for (const { start, count, binding } of chunks) {
      batch.dispatch(
        pipeline,
        Matvec.params(count, cols, bytesPerRow, start, rows),
        [binding, x, out, ...extra],
        grid(count),
      );
    }
  }
}
