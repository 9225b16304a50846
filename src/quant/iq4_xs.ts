import { roundToF16 } from '../util/half.js';
import { GgmlType, readF16, signedMax, writeF16, type QuantFormat } from './format.js';
import { IQ4_NL_VALUES, nearestIq4 } from './iq4_nl.js';
import { QK_K } from './k-quant.js';

// IQ4_XS: 256 values per super-block, 136 bytes: IQ4_NL's codebook, 8 sub-blocks of 32 with
// 6-bit scales.
//
//   byte 0       2              4                8                                136
//        [ d:f16 ][ scales_h:u16 ][ scales_l: 4 B ][ qs: u8 x 128                   ]
//
//   Sub-block b: ls = (scales_l[b / 2] >> 4 * (b % 2)) & 0xF | ((scales_h >> 2b) & 3) << 4;
//   its 16 bytes at 8 + 16b hold values 0..15 (low nibbles) and 16..31 (high nibbles);
//   value = d * (ls - 32) * IQ4_NL_VALUES[index]
const BLOCK_BYTES = 136;

export const IQ4_XS: QuantFormat = {
  name: 'IQ4_XS',
  ggmlType: GgmlType.IQ4_XS,
  blockValues: QK_K,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [0],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / QK_K; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o);
      const high = bytes[o + 2] | (bytes[o + 3] << 8);
      for (let ib = 0; ib < 8; ib++) {
        const ls =
          ((bytes[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 0xf) | (((high >> (2 * ib)) & 3) << 4);
        const dl = Math.fround(d * (ls - 32));
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 8 + 16 * ib + j];
          out[b * QK_K + 32 * ib + j] = dl * IQ4_NL_VALUES[q & 0xf];
          out[b * QK_K + 32 * ib + j + 16] = dl * IQ4_NL_VALUES[q >> 4];
        }
      }
    }
    return out;
  },
  // Ours: each sub-block's scale as IQ4_NL's (largest magnitude to -127), 6 bits against an
  // f16 super-scale, then every value to its nearest codebook entry.
  quantize(values) {
    const out = new Uint8Array((values.length / QK_K) * BLOCK_BYTES);
    for (let b = 0; b < values.length / QK_K; b++) {
      const x = values.subarray(b * QK_K, (b + 1) * QK_K);
      const o = b * BLOCK_BYTES;
      const wanted = Array.from(
        { length: 8 },
        (_, ib) => signedMax(x.subarray(32 * ib, 32 * ib + 32)) / -127,
      );
      const d = roundToF16(Math.max(...wanted.map(Math.abs)) / 31);
      let high = 0;
      for (let ib = 0; ib < 8; ib++) {
        const ls = (d ? Math.max(-32, Math.min(31, Math.round(wanted[ib] / d))) : 0) + 32;
        out[o + 4 + (ib >> 1)] |= (ls & 0xf) << (4 * (ib & 1));
        high |= (ls >> 4) << (2 * ib);
        const dl = d * (ls - 32);
        const id = dl ? 1 / dl : 0;
        for (let j = 0; j < 16; j++) {
          const lo = nearestIq4(x[32 * ib + j] * id);
          const hi = nearestIq4(x[32 * ib + j + 16] * id);
          out[o + 8 + 16 * ib + j] = lo | (hi << 4);
        }
      }
      writeF16(out, o, d);
      out[o + 2] = high & 0xff;
      out[o + 3] = high >> 8;
    }
    return out;
  },
};
