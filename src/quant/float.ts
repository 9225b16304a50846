import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../util/half.js';
import { GgmlType, type QuantFormat } from './format.js';

// The plain float formats, one value per "block", little-endian.
//   F32:  [f32]      4 bytes
//   F16:  [f16]      2 bytes (IEEE half)
//   BF16: [bf16]     2 bytes (top half of an f32)

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export const F32: QuantFormat = {
  name: 'F32',
  ggmlType: GgmlType.F32,
  blockValues: 1,
  blockBytes: 4,
  halfOffsets: [],
  dequantize(bytes, count) {
    const v = view(bytes);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = v.getFloat32(i * 4, true);
    return out;
  },
  quantize(values) {
    return new Uint8Array(Float32Array.from(values).buffer);
  },
};

function halfFormat(
  name: 'F16' | 'BF16',
  decode: (bits: number) => number,
  encode: (value: number) => number,
): QuantFormat {
  return {
    name,
    ggmlType: GgmlType[name],
    blockValues: 1,
    blockBytes: 2,
    halfOffsets: [],
    dequantize(bytes, count) {
      const v = view(bytes);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = decode(v.getUint16(i * 2, true));
      return out;
    },
    quantize(values) {
      const out = new Uint8Array(values.length * 2);
      const v = view(out);
      for (let i = 0; i < values.length; i++) v.setUint16(i * 2, encode(values[i]), true);
      return out;
    },
  };
}

export const F16 = halfFormat('F16', f16ToF32, f32ToF16);
export const BF16 = halfFormat('BF16', bf16ToF32, f32ToBf16);
