import { roundToF16 } from '../util/half.js';
import { GgmlType, readF16, writeF16, type QuantFormat } from './format.js';
import { QK_K } from './k-quant.js';

// Q6_K: 256 values per super-block, 210 bytes; 16 sub-blocks of 16 with int8 scales.
//
//   byte 0                 128          192              208      210
//        [ ql: u8 x 128     ][ qh: u8 x 64][ scales: i8 x 16 ][ d:f16 ]
//
//   For value v: n = v >> 7 (which half), r = v & 127, k = r >> 5 (quarter), l = r & 31:
//     low 4 bits  = ql[64n + l + 32*(k & 1)] >> 4*(k >> 1)
//     high 2 bits = qh[32n + l] >> 2k
//     q = (low | high << 4) - 32
//   value[v] = d * scales[8n + 2k + (l >> 4)] * q
const BLOCK_BYTES = 210;
if (QK_K / 2 + QK_K / 4 + QK_K / 16 + 2 !== BLOCK_BYTES) throw new Error('Q6_K layout');

/** Byte offsets and shifts of value v (0..255) inside a block. */
function place(v: number) {
  const n = v >> 7;
  const k = (v & 127) >> 5;
  const l = v & 31;
  return {
    ql: 64 * n + l + 32 * (k & 1),
    qlShift: 4 * (k >> 1),
    qh: 128 + 32 * n + l,
    qhShift: 2 * k,
    scale: 192 + 8 * n + 2 * k + (l >> 4),
  };
}

export const Q6_K: QuantFormat = {
  name: 'Q6_K',
  ggmlType: GgmlType.Q6_K,
  blockValues: QK_K,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [208],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / QK_K; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o + 208);
      for (let v = 0; v < QK_K; v++) {
        const p = place(v);
        const low = (bytes[o + p.ql] >> p.qlShift) & 0xf;
        const high = (bytes[o + p.qh] >> p.qhShift) & 3;
        const scale = (bytes[o + p.scale] << 24) >> 24;
        out[b * QK_K + v] = d * scale * ((low | (high << 4)) - 32);
      }
    }
    return out;
  },
  quantize(values) {
    const blocks = values.length / QK_K;
    const out = new Uint8Array(blocks * BLOCK_BYTES);
    for (let b = 0; b < blocks; b++) {
      const x = values.subarray(b * QK_K, (b + 1) * QK_K);
      const o = b * BLOCK_BYTES;
      // Per 16-value sub-block a scale mapping its largest magnitude to 31, then int8 scales
      // against one f16 super-scale.
      const subScales: number[] = [];
      for (let s = 0; s < 16; s++) {
        let amax = 0;
        for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[s * 16 + l]));
        subScales.push(amax / 31);
      }
      const d = roundToF16(Math.max(...subScales) / 127);
      writeF16(out, o + 208, d);
      for (let v = 0; v < QK_K; v++) {
        const p = place(v);
        const sub = p.scale - 192;
        const sc = d ? Math.min(127, Math.round(subScales[sub] / d)) : 0;
        out[o + p.scale] = sc & 0xff;
        const step = d * sc;
        const q = step ? Math.min(31, Math.max(-32, Math.round(x[v] / step))) + 32 : 32;
        out[o + p.ql] |= (q & 0xf) << p.qlShift;
        out[o + p.qh] |= (q >> 4) << p.qhShift;
      }
    }
    return out;
  },
};
