import { GgmlType, readF16, writeF16, type QuantFormat } from './format.js';

// Q4_1: 32 values per block, 20 bytes; a scale and an offset (min), so values need not be
// centred on zero.
//
//   byte 0      2       4                      20
//        [ d:f16 ][ m:f16 ][ qs: u8 x 16         ]
//
//   value[j]      = d * (qs[j] & 0xF) + m     j = 0..15
//   value[j + 16] = d * (qs[j] >> 4)  + m
const BLOCK_VALUES = 32;
const BLOCK_BYTES = 20;

export const Q4_1: QuantFormat = {
  name: 'Q4_1',
  ggmlType: GgmlType.Q4_1,
  blockValues: BLOCK_VALUES,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [0, 2],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / BLOCK_VALUES; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o);
      const m = readF16(bytes, o + 2);
      for (let j = 0; j < 16; j++) {
        const q = bytes[o + 4 + j];
        out[b * BLOCK_VALUES + j] = Math.fround((q & 0xf) * d) + m;
        out[b * BLOCK_VALUES + j + 16] = Math.fround((q >> 4) * d) + m;
      }
    }
    return out;
  },
  blockOffsets: (bytes, count) => blockOffsets(bytes, count, BLOCK_BYTES),
  // As GGML's quantize_row_q4_1_ref: the block's min is the offset, its range 15 steps.
  quantize(values) {
    return quantizeAffine(values, 15, BLOCK_BYTES, (out, o, q) => {
      for (let j = 0; j < 16; j++)
        out[o + 4 + j] = Math.min(15, q[j]) | (Math.min(15, q[j + 16]) << 4);
    });
  },
};

/** The offset `m` of each block of a Q4_1 or Q5_1 tensor (it follows d, at byte 2). */
export function blockOffsets(bytes: Uint8Array, count: number, blockBytes: number): Float32Array {
  const out = new Float32Array(count / BLOCK_VALUES);
  for (let b = 0; b < out.length; b++) out[b] = readF16(bytes, b * blockBytes + 2);
  return out;
}

/**
 * Blocks of d:f16, m:f16 and then what `write` puts after them from the block's levels: GGML's
 * quantize_row_q4_1_ref / q5_1_ref, where m is the block's min, d its range over `steps`, and
 * level (int8_t)((x - m) / d + 0.5f) (`write` clamps where GGML does).
 */
export function quantizeAffine(
  values: Float32Array,
  steps: number,
  blockBytes: number,
  write: (out: Uint8Array, o: number, q: Int32Array) => void,
): Uint8Array {
  const f = Math.fround;
  const blocks = values.length / BLOCK_VALUES;
  const out = new Uint8Array(blocks * blockBytes);
  const q = new Int32Array(BLOCK_VALUES);
  for (let b = 0; b < blocks; b++) {
    const x = values.subarray(b * BLOCK_VALUES, (b + 1) * BLOCK_VALUES);
    let min = Infinity;
    let max = -Infinity;
    for (const v of x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / steps);
    const id = d ? f(1 / d) : 0;
    const o = b * blockBytes;
    writeF16(out, o, d);
    writeF16(out, o + 2, min);
    for (let j = 0; j < BLOCK_VALUES; j++) q[j] = Math.trunc(f(f(f(x[j] - min) * id) + 0.5));
    write(out, o, q);
  }
  return out;
}
