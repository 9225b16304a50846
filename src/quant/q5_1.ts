import { GgmlType, readF16, type QuantFormat } from './format.js';
import { blockOffsets, quantizeAffine } from './q4_1.js';
import { read5Bit, write5Bit } from './q5_0.js';

// Q5_1: 32 values per block, 24 bytes; Q5_0's bits with an offset (min), as Q4_1 is Q4_0's.
// llama.cpp's quantizer writes it for Q5_K tensors whose rows are not whole 256-value blocks.
//
//   byte 0      2       4            8                      24
//        [ d:f16 ][ m:f16 ][ qh: u32   ][ qs: u8 x 16         ]
//
//   q[i] as in Q5_0, value[i] = d * q[i] + m
const BLOCK_VALUES = 32;
const BLOCK_BYTES = 24;

export const Q5_1: QuantFormat = {
  name: 'Q5_1',
  ggmlType: GgmlType.Q5_1,
  blockValues: BLOCK_VALUES,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [0, 2],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    const q = new Uint8Array(BLOCK_VALUES);
    for (let b = 0; b < count / BLOCK_VALUES; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o);
      const m = readF16(bytes, o + 2);
      read5Bit(bytes, o + 4, q);
      for (let i = 0; i < BLOCK_VALUES; i++) out[b * BLOCK_VALUES + i] = Math.fround(q[i] * d) + m;
    }
    return out;
  },
  blockOffsets: (bytes, count) => blockOffsets(bytes, count, BLOCK_BYTES),
  // As GGML's quantize_row_q5_1_ref (no clamp: (uint8_t) of at most 31.5).
  quantize(values) {
    return quantizeAffine(values, 31, BLOCK_BYTES, (out, o, q) => write5Bit(out, o + 4, q));
  },
};
