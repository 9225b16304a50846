import type { Binding, ComputeBatch } from '../gpu/batch.js';
import { workgroupGrid } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { GpuValidationError } from '../errors.js';
import { quantFormats, rowBytes, type QuantName } from '../model/quant/index.js';
import { MATVEC_THREADS_PER_ROW, MATVEC_WORKGROUP } from './tuning.js';
import {
  loadRowReduce,
  weightDefines,
  type KernelOptions,
  type RowReducePipeline,
} from './variant.js';

/** The largest batch one matvec dispatch serves (MAX_M in matvec.wgsl). */
export const MATVEC_MAX_BATCH = 8;

/**
 * x (batch, cols) f32, w (rows, cols) in the kernel's format, rows `rowBytes(format, cols)`
 * apart -> out (batch, rows) f32.
 */
export interface MatvecArgs {
  /** The weights: a whole buffer, or a buffer and the byte offset the matrix starts at. */
  w: GPUBuffer | { buffer: GPUBuffer; offset?: number };
  x: Binding;
  out: Binding;
  rows: number;
  cols: number;
}

export interface MatvecOptions extends KernelOptions {
  /** Weight format as GGUF stores it (default F32). */
  format?: QuantName;
  /** Vectors per dispatch, 1..8 (default 1). */
  batch?: number;
  /** Bytes one weight binding may span; defaults to maxStorageBufferBindingSize. */
  bindingLimit?: number;
}

/**
 * shaders/matvec.wgsl: decode-time matrix-vector product with weights dequantized in
 * registers. Matrices larger than one storage binding are split by rows over several
 * dispatches, each binding its own 256-byte-aligned slice of the weights.
 */
export class Matvec {
  private constructor(
    readonly variant: RowReducePipeline,
    readonly format: QuantName,
    readonly batch: number,
    /** Output rows per workgroup. */
    readonly rowsPerWorkgroup: number,
    private readonly bindingLimit: number,
    private readonly offsetAlignment: number,
  ) {}

  static async load(gpu: GpuContext, options: MatvecOptions = {}): Promise<Matvec> {
    const { format = 'F32', batch = 1 } = options;
    if (!Number.isInteger(batch) || batch < 1 || batch > MATVEC_MAX_BATCH) {
      throw new RangeError(`matvec batch must be 1..${MATVEC_MAX_BATCH}, got ${batch}`);
    }
    const { limits, features, subgroupMinSize, subgroupMaxSize } = gpu.facts;
    // A subgroup per row needs one fixed subgroup size that divides the workgroup.
    const subgroupRows =
      features.subgroups &&
      subgroupMinSize === subgroupMaxSize &&
      subgroupMinSize > 0 &&
      MATVEC_WORKGROUP % subgroupMinSize === 0;
    const perRow = subgroupRows ? subgroupMinSize : MATVEC_THREADS_PER_ROW;
    const variant = await loadRowReduce(
      gpu,
      'matvec',
      MATVEC_WORKGROUP,
      options,
      {
        tag: `${format.toLowerCase()}_f32_m${batch}`,
        suffix: `_r${perRow}`,
        defines: weightDefines(format),
        overrides: { M: batch, T: perRow },
      },
      subgroupRows,
    );
    const bindingLimit = Math.min(
      options.bindingLimit ?? limits.maxStorageBufferBindingSize,
      limits.maxStorageBufferBindingSize,
    );
    return new Matvec(
      variant,
      format,
      batch,
      MATVEC_WORKGROUP / perRow,
      bindingLimit,
      limits.minStorageBufferOffsetAlignment,
    );
  }

  /** Field for field with `struct Params` in matvec.wgsl. */
  static params(
    rows: number,
    cols: number,
    rowBytes: number,
    rowOffset: number,
    outStride: number,
  ): Uint32Array {
    return new Uint32Array([rows, cols, rowBytes, rowOffset, outStride, 0, 0, 0]);
  }

  /**
   * Row ranges whose weights each fit one binding, starting at offsets the device accepts.
   * Chunk sizes are multiples of 256 / gcd(rowBytes, 256) rows, so every start is aligned.
   */
  chunks(rows: number, bytesPerRow: number, baseOffset: number): [start: number, count: number][] {
    if (baseOffset % this.offsetAlignment !== 0) {
      throw new GpuValidationError(
        `matvec weights must start ${this.offsetAlignment}-byte aligned`,
      );
    }
    const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
    const step = this.offsetAlignment / gcd(bytesPerRow, this.offsetAlignment);
    const fit = Math.floor(Math.floor(this.bindingLimit / bytesPerRow) / step) * step;
    if (fit < 1) {
      throw new GpuValidationError(
        `one ${this.format} row of ${bytesPerRow} bytes does not fit a ${this.bindingLimit}-byte binding`,
      );
    }
    const chunks: [number, number][] = [];
    for (let start = 0; start < rows; start += fit)
      chunks.push([start, Math.min(fit, rows - start)]);
    return chunks;
  }

  encode(batch: ComputeBatch, { w, x, out, rows, cols }: MatvecArgs): void {
    const { pipeline, maxWorkgroups } = this.variant;
    const bytesPerRow = rowBytes(quantFormats[this.format], cols);
    const buffer = 'buffer' in w ? w.buffer : w;
    const base = 'buffer' in w ? (w.offset ?? 0) : 0;
    for (const [start, count] of this.chunks(rows, bytesPerRow, base)) {
      const offset = base + start * bytesPerRow;
      // Bindings are whole words; a matrix ending mid-word reads its last word's padding.
      const size = Math.min(Math.ceil((count * bytesPerRow) / 4) * 4, buffer.size - offset);
      batch.dispatch(
        pipeline,
        Matvec.params(count, cols, bytesPerRow, start, rows),
        [{ buffer, offset, size }, x, out],
        workgroupGrid(Math.ceil(count / this.rowsPerWorkgroup), maxWorkgroups),
      );
    }
  }
}
