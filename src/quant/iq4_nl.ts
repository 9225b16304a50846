import { GgmlType, readF16, signedMax, writeF16, type QuantFormat } from './format.js';

// IQ4_NL: 32 values per block, 18 bytes: 4-bit indices into a fixed non-linear codebook.
//
//   byte 0      2                      18
//        [ d:f16 ][ qs: u8 x 16         ]
//
//   value[j]      = d * IQ4_NL_VALUES[qs[j] & 0xF]     j = 0..15
//   value[j + 16] = d * IQ4_NL_VALUES[qs[j] >> 4]
const BLOCK_VALUES = 32;
const BLOCK_BYTES = 18;

/** GGML's kvalues_iq4nl. */
export const IQ4_NL_VALUES: readonly number[] = [
  -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/** The codebook index nearest `v` (in codebook units). */
export function nearestIq4(v: number): number {
  let best = 0;
  for (let i = 1; i < 16; i++) {
    if (Math.abs(IQ4_NL_VALUES[i] - v) < Math.abs(IQ4_NL_VALUES[best] - v)) best = i;
  }
  return best;
}

export const IQ4_NL: QuantFormat = {
  name: 'IQ4_NL',
  ggmlType: GgmlType.IQ4_NL,
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
        out[b * BLOCK_VALUES + j] = d * IQ4_NL_VALUES[q & 0xf];
        out[b * BLOCK_VALUES + j + 16] = d * IQ4_NL_VALUES[q >> 4];
      }
    }
    return out;
  },
  // Ours, simpler than GGML's scale search: the value of largest magnitude maps to -127 (the
  // codebook's widest entry), every value to its nearest entry.
  quantize(values) {
    const blocks = values.length / BLOCK_VALUES;
    const out = new Uint8Array(blocks * BLOCK_BYTES);
    for (let b = 0; b < blocks; b++) {
      const x = values.subarray(b * BLOCK_VALUES, (b + 1) * BLOCK_VALUES);
      const max = signedMax(x);
      const d = max / -127;
      const id = d ? 1 / d : 0;
      const o = b * BLOCK_BYTES;
      writeF16(out, o, d);
      for (let j = 0; j < 16; j++) {
        out[o + 2 + j] = nearestIq4(x[j] * id) | (nearestIq4(x[j + 16] * id) << 4);
      }
    }
    return out;
  },
};
