import { GgmlType, readF16, signedMax, writeF16, type QuantFormat } from './format.js';

// Q5_0: 32 values per block, 22 bytes. llama.cpp's quantizer writes it for Q4_K tensors whose
// rows are not whole 256-value super-blocks (Qwen2.5-0.5B's 896 columns).
//
//   byte 0      2            6                      22
//        [ d:f16 ][ qh: u32   ][ qs: u8 x 16         ]
//
//   q[j]      = (qs[j] & 0xF) | bit j of qh << 4          j = 0..15
//   q[j + 16] = (qs[j] >> 4)  | bit j + 16 of qh << 4
//   value[i]  = d * (q[i] - 16)
const BLOCK_VALUES = 32;
const BLOCK_BYTES = 22;

export const Q5_0: QuantFormat = {
  name: 'Q5_0',
  ggmlType: GgmlType.Q5_0,
  blockValues: BLOCK_VALUES,
  blockBytes: BLOCK_BYTES,
  halfOffsets: [0],
  dequantize(bytes, count) {
    const out = new Float32Array(count);
    for (let b = 0; b < count / BLOCK_VALUES; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o);
      const qh =
        (bytes[o + 2] | (bytes[o + 3] << 8) | (bytes[o + 4] << 16) | (bytes[o + 5] << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = bytes[o + 6 + j];
        out[b * BLOCK_VALUES + j] = d * ((q & 0xf) + (((qh >>> j) & 1) << 4) - 16);
        out[b * BLOCK_VALUES + j + 16] = d * ((q >> 4) + (((qh >>> (j + 16)) & 1) << 4) - 16);
      }
    }
    return out;
  },
  // As GGML's quantize_row_q5_0_ref: the value of largest magnitude maps to -16.
  quantize(values) {
    const blocks = values.length / BLOCK_VALUES;
    const out = new Uint8Array(blocks * BLOCK_BYTES);
    for (let b = 0; b < blocks; b++) {
      const x = values.subarray(b * BLOCK_VALUES, (b + 1) * BLOCK_VALUES);
      const max = signedMax(x);
      const d = Math.fround(max / -16);
      const id = d ? Math.fround(1 / d) : 0;
      const o = b * BLOCK_BYTES;
      writeF16(out, o, d);
      // (int8_t)(x * id + 16.5f): truncation toward zero, then at most 31.
      const q = (v: number) => Math.min(31, Math.trunc(Math.fround(Math.fround(v * id) + 16.5)));
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const q0 = q(x[j]);
        const q1 = q(x[j + 16]);
        out[o + 6 + j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
        qh |= ((q0 >> 4) & 1) << j;
        qh |= ((q1 >> 4) & 1) << (j + 16);
      }
      out[o + 2] = qh & 0xff;
      out[o + 3] = (qh >>> 8) & 0xff;
      out[o + 4] = (qh >>> 16) & 0xff;
      out[o + 5] = (qh >>> 24) & 0xff;
    }
    return out;
  },
};
