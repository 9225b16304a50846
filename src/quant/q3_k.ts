import { roundToF16 } from '../util/half.js';
import { GgmlType, readF16, writeF16, type QuantFormat } from './format.js';
import { QK_K } from './k-quant.js';

// Q3_K: 256 values per super-block, 110 bytes; 16 sub-blocks of 16 with a 6-bit signed scale.
//
//   byte 0              32                          96              108       110
//        [ hmask: u8 x 32 ][ qs: u8 x 64 (2 bits each)][ scales: 12 B  ][ d:f16  ]
//
//   Sub-block s = 8n + 2j + h (half n, pass j, h: first or second 16) holds values
//   128n + 32j + 16h + l: low bits 2j of qs[32n + 16h + l], high bit 4n + j of hmask[16h + l];
//   value = d * (scale[s] - 32) * (low - (high ? 0 : 4))
//   scale[s] = (scales[s % 8] >> 4 * (s / 8)) & 0xF | ((scales[8 + s % 4] >> 2 * (s / 4)) & 3) << 4
const BLOCK_BYTES = 110;

/** Where value `v` keeps its bits: [qs byte, shift, hmask byte, hmask bit, sub-block]. */
function place(v: number): [number, number, number, number, number] {
  const n = v >> 7;
  const j = (v >> 5) & 3;
  const h = (v >> 4) & 1;
  const l = v & 15;
  return [32 + 32 * n + 16 * h + l, 2 * j, 16 * h + l, 4 * n + j, 8 * n + 2 * j + h];
}

/** The 6-bit scale of sub-block s (0..63, 32 meaning zero) from the 12 packed bytes at o. */
export function q3kScale(bytes: Uint8Array, o: number, s: number): number {
  const low = (bytes[o + (s & 7)] >> (4 * (s >> 3))) & 0xf;
  const high = (bytes[o + 8 + (s & 3)] >> (2 * (s >> 2))) & 3;
  return low | (high << 4);
}

export const Q3_K: QuantFormat = {
  name: 'Q3_K',
  ggmlType: GgmlType.Q3_K,
  blockValues: QK_K,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [108],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / QK_K; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o + 108);
      for (let v = 0; v < QK_K; v++) {
        const [at, shift, hat, bit, s] = place(v);
        const low = (bytes[o + at] >> shift) & 3;
        const high = (bytes[o + hat] >> bit) & 1;
        out[b * QK_K + v] =
          Math.fround(d * (q3kScale(bytes, o + 96, s) - 32)) * (low - (high ? 0 : 4));
      }
    }
    return out;
  },
  // Ours: per sub-block a symmetric scale (codes -4..3), 6 bits against an f16 super-scale.
  quantize(values) {
    const out = new Uint8Array((values.length / QK_K) * BLOCK_BYTES);
    for (let b = 0; b < values.length / QK_K; b++) {
      const x = values.subarray(b * QK_K, (b + 1) * QK_K);
      const o = b * BLOCK_BYTES;
      const scales = new Array<number>(16).fill(0);
      for (let v = 0; v < QK_K; v++) {
        const s = place(v)[4];
        scales[s] = Math.max(scales[s], Math.abs(x[v]) / 4);
      }
      const d = roundToF16(Math.max(...scales) / 31);
      const sc = scales.map((v) => (d ? Math.min(31, Math.round(v / d)) : 0));
      for (let s = 0; s < 16; s++) {
        const packed = sc[s] + 32;
        out[o + 96 + (s & 7)] |= (packed & 0xf) << (4 * (s >> 3));
        out[o + 96 + 8 + (s & 3)] |= (packed >> 4) << (2 * (s >> 2));
      }
      writeF16(out, o + 108, d);
      for (let v = 0; v < QK_K; v++) {
        const [at, shift, hat, bit, s] = place(v);
        const scale = d * sc[s];
        const q = (scale ? Math.min(3, Math.max(-4, Math.round(x[v] / scale))) : 0) + 4;
        out[o + at] |= (q & 3) << shift;
        out[o + hat] |= (q >> 2) << bit;
      }
    }
    return out;
  },
};
