import { f16ToF32, f32ToF16 } from '../util/half.js';
import type { Rng } from '../util/rng.js';

/** GGML's tensor type ids, as GGUF stores them. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  IQ4_NL: 20,
  IQ4_XS: 23,
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
  /** Byte offsets of the f16 scales inside a block (Q4_K: d at 0, dmin at 2). */
  halfOffsets: readonly number[];
  /** `count` values (a multiple of blockValues) from their blocks. */
  dequantize(bytes: Uint8Array, count: number): Float32Array;
  /**
   * Q4_1, Q5_1: the offset each block adds to all its values (value = d * q + m), one per
   * block. llama.cpp's dot products multiply it by the input block's own sum (q8_1).
   */
  blockOffsets?(bytes: Uint8Array, count: number): Float32Array;
  /** Blocks for `values` (length a multiple of blockValues). Ours, not GGML's bit for bit. */
  quantize(values: Float32Array): Uint8Array;
}

/** The f16 at byte `o`, little-endian. */
export function readF16(bytes: Uint8Array, o: number): number {
  return f16ToF32(bytes[o] | (bytes[o + 1] << 8));
}

export function writeF16(out: Uint8Array, o: number, value: number): void {
  const h = f32ToF16(value);
  out[o] = h & 0xff;
  out[o + 1] = h >> 8;
}

/**
 * The value of largest magnitude, sign kept (the first of equals): GGML's symmetric quantizers
 * map it to their most negative level, so its sign picks the scale's.
 */
export function signedMax(x: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]) > Math.abs(max)) max = x[i];
  return max;
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

/**
 * Random blocks for `count` values, fast enough for hundreds of megabytes: random bits with
 * every f16 scale set to `scale` (float formats: random values in [-1, 1)). For timing and for
 * shapes too large to quantize in JS; the values are valid but not the quantization of anything.
 */
export function randomBlocks(
  format: QuantFormat,
  count: number,
  seed: number,
  scale = 1 / 512,
): Uint8Array {
  if (format.blockValues === 1) {
    const rng = new XorShift(seed);
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = rng.next() / 2 ** 31 - 1;
    return format.quantize(values);
  }
  const bytes = new Uint8Array((count / format.blockValues) * format.blockBytes);
  const words = new Uint32Array(bytes.buffer, 0, bytes.length >> 2);
  const rng = new XorShift(seed);
  for (let i = 0; i < words.length; i++) words[i] = rng.next();
  for (let o = 0; o < bytes.length; o += format.blockBytes) {
    for (const at of format.halfOffsets) writeF16(bytes, o + at, scale);
  }
  return bytes;
}

/** xorshift32: a few instructions per word, for filling large buffers. */
class XorShift {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
}
