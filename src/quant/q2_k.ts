import { roundToF16 } from '../util/half.js';
import { GgmlType, readF16, writeF16, type QuantFormat } from './format.js';
import { QK_K } from './k-quant.js';

// Q2_K: 256 values per super-block, 84 bytes; 16 sub-blocks of 16 with a 4-bit scale and min.
//
//   byte 0                16                                 80        82         84
//        [ scales: u8 x 16 ][ qs: u8 x 64 (2 bits a value)  ][ d:f16  ][ dmin:f16 ]
//
//   Sub-block s = 8n + 2j + h (half n, pass j, h: first or second 16) holds values
//   128n + 32j + 16h + l, each bits 2j of qs[32n + 16h + l];
//   value = d * (scales[s] & 0xF) * q - dmin * (scales[s] >> 4)
const BLOCK_BYTES = 84;

/** Where value `v` of a super-block keeps its bits: [qs byte, shift, sub-block]. */
function place(v: number): [number, number, number] {
  const n = v >> 7;
  const j = (v >> 5) & 3;
  const h = (v >> 4) & 1;
  return [16 + 32 * n + 16 * h + (v & 15), 2 * j, 8 * n + 2 * j + h];
}

export const Q2_K: QuantFormat = {
  name: 'Q2_K',
  ggmlType: GgmlType.Q2_K,
  blockValues: QK_K,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [80, 82],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / QK_K; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o + 80);
      const dmin = readF16(bytes, o + 82);
      for (let v = 0; v < QK_K; v++) {
        const [at, shift, s] = place(v);
        const sc = bytes[o + s];
        const q = (bytes[o + at] >> shift) & 3;
        out[b * QK_K + v] = Math.fround(d * (sc & 0xf)) * q - Math.fround(dmin * (sc >> 4));
      }
    }
    return out;
  },
  // Ours, not GGML's search: per sub-block its range over 3 steps, the scale and min in 4 bits
  // against f16 super-scales.
  quantize(values) {
    const out = new Uint8Array((values.length / QK_K) * BLOCK_BYTES);
    for (let b = 0; b < values.length / QK_K; b++) {
      const x = values.subarray(b * QK_K, (b + 1) * QK_K);
      const o = b * BLOCK_BYTES;
      const scales = new Array<number>(16).fill(0);
      const mins = new Array<number>(16).fill(0);
      for (let v = 0; v < QK_K; v++) {
        const s = place(v)[2];
        mins[s] = Math.max(mins[s], -x[v]);
      }
      for (let v = 0; v < QK_K; v++) {
        const s = place(v)[2];
        scales[s] = Math.max(scales[s], (x[v] + mins[s]) / 3);
      }
      const d = roundToF16(Math.max(...scales) / 15);
      const dmin = roundToF16(Math.max(...mins) / 15);
      const sc = scales.map((v) => (d ? Math.min(15, Math.round(v / d)) : 0));
      const m = mins.map((v) => (dmin ? Math.min(15, Math.round(v / dmin)) : 0));
      for (let s = 0; s < 16; s++) out[o + s] = sc[s] | (m[s] << 4);
      writeF16(out, o + 80, d);
      writeF16(out, o + 82, dmin);
      for (let v = 0; v < QK_K; v++) {
        const [at, shift, s] = place(v);
        const scale = d * sc[s];
        const q = scale ? Math.round((x[v] + dmin * m[s]) / scale) : 0;
        out[o + at] |= Math.min(3, Math.max(0, q)) << shift;
      }
    }
    return out;
  },
};
