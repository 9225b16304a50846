import { GgmlType } from './format.js';
import { K_SCALE_BYTES, QK_K, scaleMinFormat } from './k-quant.js';

// Q5_K: 256 values per super-block, 176 bytes; as Q4_K plus a fifth bit per value.
//
//   byte 0       2          4               16           48                     176
//        [ d:f16 ][ dmin:f16 ][ scales: 12 B  ][ qh: 32 B   ][ qs: u8 x 128       ]
//
//   Sub-block s: low 4 bits from qs[32*(s>>1) + l] (low nibble for even s, high for odd),
//   bit 4 from (qh[l] >> s) & 1.
//   value[32*s + l] = d * sc[s] * q - dmin * m[s]
const BLOCK_BYTES = 176;
if (2 + 2 + K_SCALE_BYTES + QK_K / 8 + QK_K / 2 !== BLOCK_BYTES) throw new Error('Q5_K layout');

export const Q5_K = scaleMinFormat({
  name: 'Q5_K',
  ggmlType: GgmlType.Q5_K,
  blockBytes: BLOCK_BYTES,
  qhOffset: 16,
  qsOffset: 48,
});
