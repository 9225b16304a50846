import { roundToF16 } from '../util/half.js';
import { readF16, writeF16, type QuantFormat } from './format.js';

// What the K-quants share: 256-value super-blocks, and (Q4_K, Q5_K) eight 32-value sub-blocks
// whose 6-bit scales and mins are packed into 12 bytes:
//
//   scales[0..3]  = sc[0..3] (6 bits) | top 2 bits of sc[4..7] << 6
//   scales[4..7]  = m[0..3]  (6 bits) | top 2 bits of m[4..7]  << 6
//   scales[8..11] = low 4 bits of sc[4..7] | low 4 bits of m[4..7] << 4
export const QK_K = 256;
export const K_SCALE_BYTES = 12;

/** Sub-block j's 6-bit [scale, min] from the 12 packed bytes at `o` (GGML's get_scale_min_k4). */
export function scaleMinK4(bytes: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [bytes[o + j] & 63, bytes[o + j + 4] & 63];
  const sc = (bytes[o + j + 4] & 0xf) | ((bytes[o + j - 4] >> 6) << 4);
  const m = (bytes[o + j + 4] >> 4) | ((bytes[o + j] >> 6) << 4);
  return [sc, m];
}

export function packScaleMinK4(sc: number[], m: number[], out: Uint8Array, o: number): void {
  for (let j = 0; j < 4; j++) {
    out[o + j] = sc[j] | ((sc[j + 4] >> 4) << 6);
    out[o + j + 4] = m[j] | ((m[j + 4] >> 4) << 6);
    out[o + j + 8] = (sc[j + 4] & 0xf) | ((m[j + 4] & 0xf) << 4);
  }
}

/**
 * Asymmetric quantization of one 256-value super-block (Q4_K: levels 15, Q5_K: 31): per
 * 32-value sub-block a scale and a min, each 6 bits against the f16 super-scales d and dmin.
 * Returns the codes (0..levels) and what goes in the header.
 */
export function quantizeScaleMinBlock(x: Float32Array, levels: number) {
  const scales: number[] = [];
  const mins: number[] = [];
  for (let s = 0; s < 8; s++) {
    const sub = x.subarray(s * 32, s * 32 + 32);
    const lo = Math.min(0, ...sub);
    const hi = Math.max(...sub);
    scales.push((hi - lo) / levels);
    mins.push(-lo);
  }
  const d = roundToF16(Math.max(...scales) / 63);
  const dmin = roundToF16(Math.max(...mins) / 63);
  const sc = scales.map((v) => (d ? Math.min(63, Math.round(v / d)) : 0));
  const m = mins.map((v) => (dmin ? Math.min(63, Math.round(v / dmin)) : 0));
  const codes = new Uint8Array(QK_K);
  for (let s = 0; s < 8; s++) {
    const scale = d * sc[s];
    const min = dmin * m[s];
    for (let l = 0; l < 32; l++) {
      const q = scale ? Math.round((x[s * 32 + l] + min) / scale) : 0;
      codes[s * 32 + l] = Math.min(levels, Math.max(0, q));
    }
  }
  return { d, dmin, sc, m, codes };
}

/**
 * Q4_K and Q5_K differ only in where a value's bits live: both have d, dmin and 12 scale bytes
 * up front, low nibbles at `qsOffset` (sub-block s in qs[32*(s>>1) ..], low nibble for even s),
 * and Q5_K a fifth bit per value at `qhOffset` ((qh[l] >> s) & 1).
 */
export function scaleMinFormat(layout: {
  name: 'Q4_K' | 'Q5_K';
  ggmlType: number;
  blockBytes: number;
  qsOffset: number;
  qhOffset?: number;
}): QuantFormat {
  const { blockBytes, qsOffset, qhOffset } = layout;
  const levels = qhOffset === undefined ? 15 : 31;
  return {
    name: layout.name,
    ggmlType: layout.ggmlType,
    blockValues: QK_K,
    blockBytes,
    halfOffsets: [0, 2],
    dequantize(bytes, count) {
      const out = new Float32Array(count);
      for (let b = 0; b < count / QK_K; b++) {
        const o = b * blockBytes;
        const d = readF16(bytes, o);
        const dmin = readF16(bytes, o + 2);
        for (let s = 0; s < 8; s++) {
          const [sc, m] = scaleMinK4(bytes, o + 4, s);
          const qs = o + qsOffset + 32 * (s >> 1);
          const shift = (s & 1) * 4;
          for (let l = 0; l < 32; l++) {
            let q = (bytes[qs + l] >> shift) & 0xf;
            if (qhOffset !== undefined) q |= ((bytes[o + qhOffset + l] >> s) & 1) << 4;
            out[b * QK_K + s * 32 + l] = d * sc * q - dmin * m;
          }
        }
      }
      return out;
    },
    quantize(values) {
      const blocks = values.length / QK_K;
      const out = new Uint8Array(blocks * blockBytes);
      for (let b = 0; b < blocks; b++) {
        const block = values.subarray(b * QK_K, (b + 1) * QK_K);
        const { d, dmin, sc, m, codes } = quantizeScaleMinBlock(block, levels);
        const o = b * blockBytes;
        writeF16(out, o, d);
        writeF16(out, o + 2, dmin);
        packScaleMinK4(sc, m, out, o + 4);
        for (let s = 0; s < 8; s++) {
          const qs = o + qsOffset + 32 * (s >> 1);
          const shift = (s & 1) * 4;
          for (let l = 0; l < 32; l++) {
            const q = codes[s * 32 + l];
            out[qs + l] |= (q & 0xf) << shift;
            if (qhOffset !== undefined) out[o + qhOffset + l] |= (q >> 4) << s;
          }
        }
      }
      return out;
    },
  };
}
