import type { Binding, ComputeBatch } from '../gpu/batch.js';
import { workgroupGrid } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { quantFormats, rowBytes, type DotInput, type QuantName } from '../quant/index.js';
import { dotInput, integerDotFormat } from '../quant/dot-input.js';
import {
  integerProducts,
  matvecStagesX,
  matvecWideLoads,
  matvecSubgroupsPerRow,
  matvecThreadsPerRow,
  MATVEC_WORKGROUP,
} from './tuning.js';
import { GpuValidationError } from '../errors.js';
import { weightChunks, type WeightBinding } from './weight-binding.js';
import { loadVariant, type KernelOptions, type LoadedVariant } from './variant.js';

/** The largest batch one matvec dispatch serves (MAX_M in matvec.wgsl). */
export const MATVEC_MAX_BATCH = 16;

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
  /** Vectors per dispatch, 1..16 (default 1). */
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
   * memory (stageX) takes no more of it than such a row needs. Any length runs on any variant.
   */
  cols?: number;
  /**
   * Subgroups per lane group (two rows), 1, 2 or 4: their sums meet in workgroup memory.
   * Without subgroups of one fixed size, the invocations per row times this. Default: from
   * tuning.ts, for `cols`.
   */
  subgroupsPerRow?: number;
  /**
   * Round x once per workgroup into workgroup memory, for the integer products: `stagedUnits`
   * 32-value units of each row at a time (rows longer than that take several rounds).
   * Default: tuning.ts's matvecStagesX, where at least MATVEC_MIN_STAGED_UNITS units (or a
   * whole row) fit.
   */
  stageX?: boolean;
  /**
   * Units of each row of x staged at a time (default: a whole row of `cols` where it fits the
   * workgroup memory, else as many as fit: matvecStagedUnits).
   */
  stagedUnits?: number;
  /**
   * Read the weights 16 bytes a load, bound as vec4s: for rows matvecWideLoadRows allows (the
   * variant then takes rows of whole 16 bytes only). Default: tuning.ts's matvecWideLoads where
   * `cols` allows.
   */
  wideLoads?: boolean;
}

/** Blocks of a row of x the matvec keeps q8_k scales for (Q8_K_MAX_BLOCKS in matvec.wgsl). */
const Q8_K_MAX_BLOCKS = 128;

/** Workgroup memory a staged unit of x takes: 32 integers, its scale and its two sums. */
const STAGED_UNIT_BYTES = 48;

/** What sizes a matvec variant's workgroup memory (the arrays matvec.wgsl declares). */
export interface MatvecMemoryShape {
  workgroup: number;
  batch: number;
  /** The subgroup size where rows are reduced by subgroups, else 0 (workgroup memory). */
  subgroupSize: number;
  /** x rounded to q8_k as loaded: its block scales. */
  q8k: boolean;
  /** Units of each row of x staged at a time (X_STAGED), else 0. */
  stagedUnits: number;
}

/** The workgroup memory a matvec variant declares, in bytes. */
export function matvecWorkgroupBytes(s: MatvecMemoryShape): number {
  const scales = s.q8k ? s.workgroup + Q8_K_MAX_BLOCKS * s.batch : 0;
  const sums = s.subgroupSize
    ? 4 * scales + 8 * (s.workgroup / s.subgroupSize) * s.batch
    : 4 * Math.max(2 * s.workgroup * s.batch, scales);
  return sums + matvecStagedBytes(s.batch, s.stagedUnits);
}

/** The workgroup memory `units` staged units of `batch` rows of x take. */
function matvecStagedBytes(batch: number, units: number): number {
  return STAGED_UNIT_BYTES * batch * units;
}

/**
 * Units of each row of x a matvec stages at a time (X_STAGED): all of a row of `cols` values
 * where they fit `limit` bytes beside the variant's other arrays, else as many as fit (the row
 * then takes several rounds); 0 where not even one fits.
 */
export function matvecStagedUnits(cols: number, limit: number, shape: MatvecMemoryShape): number {
  const free = limit - matvecWorkgroupBytes({ ...shape, stagedUnits: 0 });
  return Math.max(
    0,
    Math.min(Math.ceil(cols / 32), Math.floor(free / matvecStagedBytes(shape.batch, 1))),
  );
}

/**
 * Whether rows of `cols` values in `format` can be read 16 bytes a load (W_VEC4 in
 * include/weights.wgsl): Q4_K and Q5_K, whose blocks and units are 16-byte aligned, and the
 * float formats where a row is whole 16 bytes (`cols` 0: any row length, so no).
 */
export function matvecWideLoadRows(format: QuantName, cols: number): boolean {
  if (format === 'Q4_K' || format === 'Q5_K') return true;
  return (
    quantFormats[format].blockValues === 1 &&
    cols > 0 &&
    rowBytes(quantFormats[format], cols) % 16 === 0
  );
}

/**
 * The fewest units of x a matvec stages at a time by default (short of a whole row): fewer
 * leave most lanes of a lane group idle in each round, between two barriers.
 */
export const MATVEC_MIN_STAGED_UNITS = 32;

/** The longest rows a matvec rounds to q8_k as it loads them (Q8_K_MAX_BLOCKS in matvec.wgsl). */
export const MATVEC_Q8_K_MAX_COLS = Q8_K_MAX_BLOCKS * 256;

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
    /** Units of each row of x staged at a time (stageX), else 0: not staged. */
    readonly stagedUnits: number,
    /** Reads the weights 16 bytes a load (bound as vec4s). */
    readonly wideLoads: boolean,
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
    const cols = options.cols ?? 0;
    // Units in a row: any number where the row length is not given.
    const rowUnits = cols > 0 ? Math.ceil(cols / 32) : Infinity;
    let workgroup = options.workgroup ?? MATVEC_WORKGROUP;
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
            matvecSubgroupsPerRow(gpu.facts, cols, subgroupMinSize),
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
    const storage = limits.maxComputeWorkgroupStorageSize;
    const memory: MatvecMemoryShape = {
      workgroup,
      batch,
      subgroupSize: subgroupRows ? subgroupMinSize : 0,
      q8k: input === 'q8_k',
      stagedUnits: 0,
    };
    // Without subgroups, the sums of more than 8 vectors outgrow the workgroup memory at 256
    // invocations: by default the workgroup halves until they fit (beside a round of staged x,
    // where that is asked for).
    const firstRound = Math.min(rowUnits, MATVEC_MIN_STAGED_UNITS);
    const reserve = options.stageX ? matvecStagedBytes(batch, firstRound) : 0;
    while (
      options.workgroup === undefined &&
      !subgroupRows &&
      workgroup > perRow &&
      matvecWorkgroupBytes(memory) + reserve > storage
    ) {
      memory.workgroup = workgroup /= 2;
    }
    if (matvecWorkgroupBytes(memory) > storage) {
      throw new RangeError(
        `matvec: ${batch} vectors' sums in a workgroup of ${workgroup} take ` +
          `${matvecWorkgroupBytes(memory)} bytes of workgroup memory, over the adapter's ` +
          `${storage}: take a smaller workgroup or batch`,
      );
    }
    const fit = matvecStagedUnits(cols || Infinity, storage, memory);
    const stageX = options.stageX ?? (integerDot && matvecStagesX(gpu.facts) && fit >= firstRound);
    // Rounds short of a whole row: whole strides of the lane group where they fit, so each
    // invocation takes the units it takes unstaged, in the same order.
    const rounds = cols > 0 && fit < rowUnits && fit >= perRow ? fit - (fit % perRow) : fit;
    const stagedUnits = stageX ? (options.stagedUnits ?? rounds) : 0;
    if (stageX && !integerDot) {
      throw new RangeError('matvec: x is staged for the integer products, not for float ones');
    }
    if (stageX && !(Number.isInteger(stagedUnits) && stagedUnits >= 1 && stagedUnits <= fit)) {
      throw new RangeError(
        `matvec: staged x takes ${STAGED_UNIT_BYTES} bytes a unit of each of ${batch} rows; ` +
          `${fit} units fit beside the sums in ${storage} bytes of workgroup memory, not ` +
          `${stagedUnits}` +
          (fit < 1 ? ': take a smaller workgroup or batch' : ''),
      );
    }
    const wideLoads =
      options.wideLoads ?? (matvecWideLoads(gpu.facts) && matvecWideLoadRows(format, cols));
    // Float rows of a length not given: encode checks each row length.
    if (wideLoads && !matvecWideLoadRows(format, cols || 16)) {
      throw new RangeError(
        `matvec: 16-byte weight loads are for Q4_K, Q5_K and float rows of whole 16 bytes, not ` +
          `${format}${quantFormats[format].blockValues === 1 ? ` rows of ${cols} values` : ''}`,
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
          (stageX ? `_xs${stagedUnits}` : '') +
          (wideLoads ? '_w16' : ''),
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
          W_VEC4: wideLoads,
          // Block formats' rows are whole 32-value units: x loads four values at a time.
          X_VEC4: quantFormats[format].blockValues !== 1,
        },
        overrides: {
          M: batch,
          T: perRow,
          SG: subgroupRows ? subgroupMinSize : perRow,
          ...(stageX && { XS_UNITS: stagedUnits }),
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
      stagedUnits,
      wideLoads,
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
    if (this.wideLoads && bytesPerRow % 16 !== 0) {
      throw new RangeError(
        `${this.variant.key.name}: reads rows of whole 16 bytes, not ${cols} ${this.format} values`,
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
