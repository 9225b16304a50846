import { GpuValidationError } from '../errors.js';

/** Weights as kernels take them: a whole buffer, or a buffer and the byte offset they start at. */
export type WeightBinding = GPUBuffer | { buffer: GPUBuffer; offset?: number };

/** One slice of a weight matrix small enough for one storage binding. */
export interface WeightChunk {
  /** First row of the slice, and how many rows it has. */
  start: number;
  count: number;
  binding: { buffer: GPUBuffer; offset: number; size: number };
}

/**
 * Splits a matrix of `rows` rows, `bytesPerRow` apart, into slices that each fit `bindingLimit`
 * bytes and start at an offset the device accepts: slice sizes are multiples of
 * alignment / gcd(bytesPerRow, alignment) rows, so every start stays aligned.
 */
export function weightChunks(
  weights: WeightBinding,
  rows: number,
  bytesPerRow: number,
  bindingLimit: number,
  alignment: number,
): WeightChunk[] {
  const buffer = 'buffer' in weights ? weights.buffer : weights;
  const base = 'buffer' in weights ? (weights.offset ?? 0) : 0;
  if (base % alignment !== 0) {
    throw new GpuValidationError(
      `weights must start ${alignment}-byte aligned, got offset ${base}`,
    );
  }
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  const step = alignment / gcd(bytesPerRow, alignment);
  const fit = Math.floor(Math.floor(bindingLimit / bytesPerRow) / step) * step;
  if (fit < 1) {
    throw new GpuValidationError(
      `a weight row of ${bytesPerRow} bytes does not fit a ${bindingLimit}-byte binding ` +
        `in aligned groups of ${step} rows`,
    );
  }
  const chunks: WeightChunk[] = [];
  for (let start = 0; start < rows; start += fit) {
    const count = Math.min(fit, rows - start);
    const offset = base + start * bytesPerRow;
    // Bindings are whole words; a matrix ending mid-word reads its last word's padding.
    const size = Math.min(Math.ceil((count * bytesPerRow) / 4) * 4, buffer.size - offset);
    chunks.push({ start, count, binding: { buffer, offset, size } });
  }
  return chunks;
}
