import { GgmlType } from './format.js';
import { K_SCALE_BYTES, QK_K, scaleMinFormat } from './k-quant.js';

// Q4_K: 256 values per super-block, 144 bytes; 8 sub-blocks of 32 with 6-bit scale and min.
//
//   byte 0       2          4               16                                  144
//        [ d:f16 ][ dmin:f16 ][ scales: 12 B  ][ qs: u8 x 128                     ]
//
//   Sub-block s uses qs[32*(s>>1) ..+32]: low nibbles for even s, high nibbles for odd s.
//   value[32*s + l] = d * sc[s] * q - dmin * m[s]   (sc, m from scales: see k-quant.ts)
const BLOCK_BYTES = 144;
if (2 + 2 + K_SCALE_BYTES + QK_K / 2 !== BLOCK_BYTES) throw new Error('Q4_K layout');

export const Q4_K = scaleMinFormat({
  name: 'Q4_K',
  ggmlType: GgmlType.Q4_K,
  blockBytes: BLOCK_BYTES,
  qsOffset: 16,
});
