import { GgmlType, readF16, signedMax, writeF16, type QuantFormat } from './format.js';

// Q4_0: 32 values per block, 18 bytes.
//
//   byte 0      2                      18
//        [ d:f16 ][ qs: u8 x 16         ]
//
//   value[j]      = d * ((qs[j] & 0xF) - 8)     j = 0..15
//   value[j + 16] = d * ((qs[j] >> 4)  - 8)
const BLOCK_VALUES = 32;
const BLOCK_BYTES = 18;

export const Q4_0: QuantFormat = {
  name: 'Q4_0',
  ggmlType: GgmlType.Q4_0,
  blockValues: BLOCK_VALUES,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [0],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / BLOCK_VALUES; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o);
      for (let j = 0; j < 16; j++) {
        const q = bytes[o + 2 + j];
        out[b * BLOCK_VALUES + j] = d * ((q & 0xf) - 8);
        out[b * BLOCK_VALUES + j + 16] = d * ((q >> 4) - 8);
      }
    }
    return out;
  },
  quantize(values) {
    const blocks = values.length / BLOCK_VALUES;
    const out = new Uint8Array(blocks * BLOCK_BYTES);
    for (let b = 0; b < blocks; b++) {
      const x = values.subarray(b * BLOCK_VALUES, (b + 1) * BLOCK_VALUES);
      // As GGML: the value of largest magnitude maps to -8, so its sign picks d's.
      const max = signedMax(x);
      const d = max / -8;
      const id = d ? 1 / d : 0;
      const o = b * BLOCK_BYTES;
      writeF16(out, o, d);
      const q = (v: number) => Math.min(15, Math.max(0, Math.floor(v * id + 8.5)));
      for (let j = 0; j < 16; j++) out[o + 2 + j] = q(x[j]) | (q(x[j + 16]) << 4);
    }
    return out;
  },
};
