import { GgmlType, readF16, writeF16, type QuantFormat } from './format.js';

// Q8_0: 32 values per block, 34 bytes.
//
//   byte 0      2                                   34
//        [ d:f16 ][ qs: int8 x 32                    ]
//
//   value[i] = d * qs[i]
const BLOCK_VALUES = 32;
const BLOCK_BYTES = 34;

export const Q8_0: QuantFormat = {
  name: 'Q8_0',
  ggmlType: GgmlType.Q8_0,
  blockValues: BLOCK_VALUES,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [0],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / BLOCK_VALUES; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o);
      for (let i = 0; i < BLOCK_VALUES; i++) {
        out[b * BLOCK_VALUES + i] = d * ((bytes[o + 2 + i] << 24) >> 24);
      }
    }
    return out;
  },
  quantize(values) {
    const blocks = values.length / BLOCK_VALUES;
    const out = new Uint8Array(blocks * BLOCK_BYTES);
    for (let b = 0; b < blocks; b++) {
      const x = values.subarray(b * BLOCK_VALUES, (b + 1) * BLOCK_VALUES);
      const amax = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      const o = b * BLOCK_BYTES;
      writeF16(out, o, d);
      for (let i = 0; i < BLOCK_VALUES; i++) out[o + 2 + i] = Math.round(x[i] * id) & 0xff;
    }
    return out;
  },
};
