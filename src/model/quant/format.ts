import type { Rng } from '../../util/rng.js';

/** GGML's tensor type ids, as GGUF stores them. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q8_0: 8,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  BF16: 30,
} as const;

export type QuantName = keyof typeof GgmlType;

/**
 * A weight format exactly as GGUF stores it, so tensors upload to the GPU byte for byte.
 * Rows are whole blocks: a row of `n` values takes n / blockValues * blockBytes bytes.
 */
export interface QuantFormat {
  name: QuantName;
  ggmlType: number;
  /** Values per block (1 for the plain float formats). */
  blockValues: number;
  blockBytes: number;
  /** `count` values (a multiple of blockValues) from their blocks. */
  dequantize(bytes: Uint8Array, count: number): Float32Array;
  /** Blocks for `values` (length a multiple of blockValues). Ours, not GGML's bit for bit. */
  quantize(values: Float32Array): Uint8Array;
}

/** Bytes a row of `values` takes in `format`; throws if the row is not whole blocks. */
export function rowBytes(format: QuantFormat, values: number): number {
  if (values % format.blockValues !== 0) {
    throw new RangeError(
      `${format.name} rows must be a multiple of ${format.blockValues} values, got ${values}`,
    );
  }
  return (values / format.blockValues) * format.blockBytes;
}

/** Random weights in [-scale, scale) quantized to `format`: test and benchmark data. */
export function randomWeights(format: QuantFormat, rng: Rng, count: number, scale = 1): Uint8Array {
  return format.quantize(rng.floats(count, scale));
}
