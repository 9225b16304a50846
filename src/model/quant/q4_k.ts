import { GgmlType, type QuantFormat } from './format.js';
import {
  K_SCALE_BYTES,
  packScaleMinK4,
  QK_K,
  quantizeScaleMinBlock,
  readF16,
  scaleMinK4,
  writeF16,
} from './k-quant.js';

// Q4_K: 256 values per super-block, 144 bytes; 8 sub-blocks of 32 with 6-bit scale and min.
//
//   byte 0       2          4               16                                  144
//        [ d:f16 ][ dmin:f16 ][ scales: 12 B  ][ qs: u8 x 128                     ]
//
//   Sub-block s uses qs[32*(s>>1) ..+32]: low nibbles for even s, high nibbles for odd s.
//   value[32*s + l] = d * sc[s] * q - dmin * m[s]   (sc, m from scales: see k-quant.ts)
const BLOCK_BYTES = 144;
if (2 + 2 + K_SCALE_BYTES + QK_K / 2 !== BLOCK_BYTES) throw new Error('Q4_K layout');

export const Q4_K: QuantFormat = {
  name: 'Q4_K',
  ggmlType: GgmlType.Q4_K,
  blockValues: QK_K,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [0, 2],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / QK_K; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o);
      const dmin = readF16(bytes, o + 2);
      for (let s = 0; s < 8; s++) {
        const [sc, m] = scaleMinK4(bytes, o + 4, s);
        const qs = o + 16 + 32 * (s >> 1);
        const shift = (s & 1) * 4;
        for (let l = 0; l < 32; l++) {
          out[b * QK_K + s * 32 + l] = d * sc * ((bytes[qs + l] >> shift) & 0xf) - dmin * m;
        }
      }
    }
    return out;
  },
  quantize(values) {
    const blocks = values.length / QK_K;
    const out = new Uint8Array(blocks * BLOCK_BYTES);
    for (let b = 0; b < blocks; b++) {
      const { d, dmin, sc, m, codes } = quantizeScaleMinBlock(
        values.subarray(b * QK_K, (b + 1) * QK_K),
        15,
      );
      const o = b * BLOCK_BYTES;
      writeF16(out, o, d);
      writeF16(out, o + 2, dmin);
      packScaleMinK4(sc, m, out, o + 4);
      for (let s = 0; s < 8; s++) {
        const qs = o + 16 + 32 * (s >> 1);
        const shift = (s & 1) * 4;
        for (let l = 0; l < 32; l++) out[qs + l] |= codes[s * 32 + l] << shift;
      }
    }
    return out;
  },
};
