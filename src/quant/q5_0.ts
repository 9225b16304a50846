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
    const q = new Uint8Array(BLOCK_VALUES);
    for (let b = 0; b < count / BLOCK_VALUES; b++) {
      const o = b * BLOCK_BYTES;
      const d = readF16(bytes, o);
      read5Bit(bytes, o + 2, q);
      for (let i = 0; i < BLOCK_VALUES; i++) out[b * BLOCK_VALUES + i] = d * (q[i] - 16);
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
      const q = Int32Array.from(x, (v) =>
        Math.min(31, Math.trunc(Math.fround(Math.fround(v * id) + 16.5))),
      );
      write5Bit(out, o + 2, q);
    }
    return out;
  },
};

/** A Q5_0 or Q5_1 block's 32 levels (0..31) from its qh (4 bytes at `at`) and qs (16 after). */
export function read5Bit(bytes: Uint8Array, at: number, q: Uint8Array): void {
  const qh =
    (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
  for (let j = 0; j < 16; j++) {
    const low = bytes[at + 4 + j];
    q[j] = (low & 0xf) | (((qh >>> j) & 1) << 4);
    q[j + 16] = (low >> 4) | (((qh >>> (j + 16)) & 1) << 4);
  }
}

/** The inverse of read5Bit: 32 levels (0..31) into qh at `at` and the 16 qs bytes after it. */
export function write5Bit(out: Uint8Array, at: number, q: ArrayLike<number>): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    out[at + 4 + j] = (q[j] & 0xf) | ((q[j + 16] & 0xf) << 4);
    qh |= ((q[j] >> 4) & 1) << j;
    qh |= ((q[j + 16] >> 4) & 1) << (j + 16);
  }
  out[at] = qh & 0xff;
  out[at + 1] = (qh >>> 8) & 0xff;
  out[at + 2] = (qh >>> 16) & 0xff;
  out[at + 3] = (qh >>> 24) & 0xff;
}
