import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../util/half.js';
import { Rng } from '../util/rng.js';
import {
  IQ4_XS,
  Q2_K,
  Q3_K,
  Q4_1,
  Q4_K,
  Q5_0,
  Q5_1,
  Q5_K,
  Q6_K,
  quantFormats,
  rowBytes,
} from './index.js';

function nmse(a: Float32Array, b: Float32Array): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    err += (a[i] - b[i]) ** 2;
    ref += b[i] ** 2;
  }
  return err / ref;
}

describe('f16 and bf16', () => {
  it('round-trips every finite f16 exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      const back = f32ToF16(f16ToF32(h));
      expect(back === h || (h === 0x8000 && back === 0x8000)).toBe(true);
    }
  });

  it('rounds to nearest even and saturates to infinity', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(2 ** -24)).toBe(1);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // halfway: to even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(bf16ToF32(0xc040)).toBe(-3);
  });
});

// GGML's own dequantize loops, written as ggml-quants.c writes them (pointers that advance),
// an oracle independent of the layout helpers in q4_k.ts / q5_k.ts / q6_k.ts.
function ggmlScaleMin(j: number, q: Uint8Array): [number, number] {
  if (j < 4) return [q[j] & 63, q[j + 4] & 63];
  return [(q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)];
}
const half = (b: Uint8Array, o: number) => f16ToF32(b[o] | (b[o + 1] << 8));

function ggmlQ4K(block: Uint8Array): Float32Array {
  const y = new Float32Array(256);
  const d = half(block, 0);
  const min = half(block, 2);
  const scales = block.subarray(4, 16);
  let q = 16;
  let is = 0;
  let yi = 0;
  for (let j = 0; j < 256; j += 64) {
    const [sc1, m1] = ggmlScaleMin(is + 0, scales);
    const [sc2, m2] = ggmlScaleMin(is + 1, scales);
    for (let l = 0; l < 32; ++l) y[yi++] = d * sc1 * (block[q + l] & 0xf) - min * m1;
    for (let l = 0; l < 32; ++l) y[yi++] = d * sc2 * (block[q + l] >> 4) - min * m2;
    q += 32;
    is += 2;
  }
  return y;
}

function ggmlQ5K(block: Uint8Array): Float32Array {
  const y = new Float32Array(256);
  const d = half(block, 0);
  const min = half(block, 2);
  const scales = block.subarray(4, 16);
  const qh = block.subarray(16, 48);
  let ql = 48;
  let is = 0;
  let u1 = 1;
  let u2 = 2;
  let yi = 0;
  for (let j = 0; j < 256; j += 64) {
    const [sc1, m1] = ggmlScaleMin(is + 0, scales);
    const [sc2, m2] = ggmlScaleMin(is + 1, scales);
    for (let l = 0; l < 32; ++l)
      y[yi++] = d * sc1 * ((block[ql + l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - min * m1;
    for (let l = 0; l < 32; ++l)
      y[yi++] = d * sc2 * ((block[ql + l] >> 4) + (qh[l] & u2 ? 16 : 0)) - min * m2;
    ql += 32;
    is += 2;
    u1 <<= 2;
    u2 <<= 2;
  }
  return y;
}

function ggmlQ6K(block: Uint8Array): Float32Array {
  const y = new Float32Array(256);
  const d = half(block, 208);
  let ql = 0;
  let qh = 128;
  let sc = 192;
  const i8 = (v: number) => (v << 24) >> 24;
  for (let n = 0; n < 256; n += 128) {
    for (let l = 0; l < 32; ++l) {
      const is = l >> 4;
      const q1 = i8((block[ql + l] & 0xf) | (((block[qh + l] >> 0) & 3) << 4)) - 32;
      const q2 = i8((block[ql + l + 32] & 0xf) | (((block[qh + l] >> 2) & 3) << 4)) - 32;
      const q3 = i8((block[ql + l] >> 4) | (((block[qh + l] >> 4) & 3) << 4)) - 32;
      const q4 = i8((block[ql + l + 32] >> 4) | (((block[qh + l] >> 6) & 3) << 4)) - 32;
      y[n + l] = d * i8(block[sc + is]) * q1;
      y[n + l + 32] = d * i8(block[sc + is + 2]) * q2;
      y[n + l + 64] = d * i8(block[sc + is + 4]) * q3;
      y[n + l + 96] = d * i8(block[sc + is + 6]) * q4;
    }
    ql += 64;
    qh += 32;
    sc += 8;
  }
  return y;
}

/** Random block bytes with random but sane f16 scales at the given offsets. */
function randomBlock(rng: Rng, bytes: number, halfOffsets: readonly number[]): Uint8Array {
  const block = new Uint8Array(bytes).map(() => rng.int(0, 255));
  for (const o of halfOffsets) {
    const h = f32ToF16(rng.next() * 0.01 + 1e-4);
    block[o] = h & 0xff;
    block[o + 1] = h >> 8;
  }
  return block;
}

describe('quant formats', () => {
  it('have the block sizes GGUF stores', () => {
    const sizes = Object.values(quantFormats).map((f) => [f.name, f.blockValues, f.blockBytes]);
    expect(sizes).toEqual([
      ['F32', 1, 4],
      ['F16', 1, 2],
      ['BF16', 1, 2],
      ['Q8_0', 32, 34],
      ['Q4_0', 32, 18],
      ['Q5_0', 32, 22],
      ['IQ4_NL', 32, 18],
      ['Q4_1', 32, 20],
      ['Q5_1', 32, 24],
      ['Q2_K', 256, 84],
      ['Q3_K', 256, 110],
      ['Q4_K', 256, 144],
      ['Q5_K', 256, 176],
      ['Q6_K', 256, 210],
      ['IQ4_XS', 256, 136],
    ]);
    expect(rowBytes(Q4_K, 4096)).toBe(16 * 144);
    expect(() => rowBytes(Q4_K, 4000)).toThrow(/multiple of 256 values, got 4000/);
  });

  it('dequantize Q5_0 blocks exactly as GGML does', () => {
    // dequantize_row_q5_0, transcribed: the fifth bits of values j and j + 16 from qh.
    const oracle = (block: Uint8Array) => {
      const d = f16ToF32(block[0] | (block[1] << 8));
      const qh = (block[2] | (block[3] << 8) | (block[4] << 16) | (block[5] << 24)) >>> 0;
      const y = new Float32Array(32);
      for (let j = 0; j < 16; j++) {
        const xh0 = ((qh >>> j) << 4) & 0x10;
        const xh1 = (qh >>> (j + 12)) & 0x10;
        y[j] = ((block[6 + j] & 0x0f) | xh0) - 16;
        y[j + 16] = ((block[6 + j] >> 4) | xh1) - 16;
        y[j] *= d;
        y[j + 16] *= d;
      }
      return y;
    };
    const rng = new Rng(6);
    for (let t = 0; t < 50; t++) {
      const block = randomBlock(rng, Q5_0.blockBytes, Q5_0.halfOffsets);
      expect(Q5_0.dequantize(block, 32)).toEqual(oracle(block));
    }
  });

  it('dequantize and quantize Q4_1 and Q5_1 blocks exactly as GGML does', () => {
    const f = Math.fround;
    const f16 = (b: Uint8Array, o: number) => f16ToF32(b[o] | (b[o + 1] << 8));
    // dequantize_row_q4_1 and dequantize_row_q5_1, transcribed: y = x * d + m in f32.
    const dequantize = (block: Uint8Array, bits: 4 | 5) => {
      const d = f16(block, 0);
      const m = f16(block, 2);
      const qh = (block[4] | (block[5] << 8) | (block[6] << 16) | (block[7] << 24)) >>> 0;
      const qs = bits === 4 ? 4 : 8;
      const y = new Float32Array(32);
      for (let j = 0; j < 16; j++) {
        const xh0 = bits === 5 ? ((qh >>> j) << 4) & 0x10 : 0;
        const xh1 = bits === 5 ? (qh >>> (j + 12)) & 0x10 : 0;
        y[j] = f(f(((block[qs + j] & 0x0f) | xh0) * d) + m);
        y[j + 16] = f(f(((block[qs + j] >> 4) | xh1) * d) + m);
      }
      return y;
    };
    // quantize_row_q4_1_ref and quantize_row_q5_1_ref, transcribed.
    const quantize = (x: Float32Array, bits: 4 | 5) => {
      const block = new Uint8Array(bits === 4 ? 20 : 24);
      let min = Infinity;
      let max = -Infinity;
      for (const v of x) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      const d = f(f(max - min) / (bits === 4 ? 15 : 31));
      const id = d ? f(1 / d) : 0;
      const h = [f32ToF16(d), f32ToF16(min)];
      block.set([h[0] & 0xff, h[0] >> 8, h[1] & 0xff, h[1] >> 8]);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const x0 = f(f(x[j] - min) * id);
        const x1 = f(f(x[16 + j] - min) * id);
        let xi0 = Math.trunc(f(x0 + 0.5));
        let xi1 = Math.trunc(f(x1 + 0.5));
        if (bits === 4) {
          xi0 = Math.min(15, xi0);
          xi1 = Math.min(15, xi1);
        }
        block[(bits === 4 ? 4 : 8) + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
        qh |= ((xi0 & 0x10) >> 4) << j;
        qh |= ((xi1 & 0x10) >> 4) << (j + 16);
      }
      if (bits === 5) block.set([qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24], 4);
      return block;
    };
    const rng = new Rng(41);
    for (const [format, bits] of [
      [Q4_1, 4],
      [Q5_1, 5],
    ] as const) {
      for (let t = 0; t < 50; t++) {
        const block = randomBlock(rng, format.blockBytes, format.halfOffsets);
        if (t % 2) block[3] |= 0x80; // a negative offset
        expect(format.dequantize(block, 32)).toEqual(dequantize(block, bits));
        expect(format.blockOffsets!(block, 32)).toEqual(Float32Array.of(f16(block, 2)));
        const x = rng.floats(32, 2 ** rng.int(-6, 6));
        if (t % 5 === 0) x.fill(x[0]); // a constant block: d = 0
        expect(format.quantize(x)).toEqual(quantize(x, bits));
      }
    }
  });

  it('dequantize Q2_K, Q3_K and IQ4_XS blocks exactly as GGML does', () => {
    const f16 = (b: Uint8Array, o: number) => f16ToF32(b[o] | (b[o + 1] << 8));
    // dequantize_row_q2_K, transcribed.
    const q2k = (x: Uint8Array) => {
      const y = new Float32Array(256);
      const d = f16(x, 80);
      const min = f16(x, 82);
      let q = 16;
      let is = 0;
      let at = 0;
      for (let n = 0; n < 256; n += 128) {
        let shift = 0;
        for (let j = 0; j < 4; ++j) {
          for (const half of [0, 16]) {
            const sc = x[is++];
            const dl = Math.fround(d * (sc & 0xf));
            const ml = Math.fround(min * (sc >> 4));
            for (let l = 0; l < 16; ++l) y[at++] = dl * ((x[q + l + half] >> shift) & 3) - ml;
          }
          shift += 2;
        }
        q += 32;
      }
      return y;
    };
    // dequantize_row_q3_K, transcribed (the 12 scale bytes unpacked through aux words).
    const q3k = (x: Uint8Array) => {
      const y = new Float32Array(256);
      const d = f16(x, 108);
      const aux = new Uint32Array(4);
      new Uint8Array(aux.buffer).set(x.subarray(96, 108));
      const [kmask1, kmask2] = [0x03030303, 0x0f0f0f0f];
      const tmp = aux[2];
      aux[2] = ((aux[0] >>> 4) & kmask2) | (((tmp >>> 4) & kmask1) << 4);
      aux[3] = ((aux[1] >>> 4) & kmask2) | (((tmp >>> 6) & kmask1) << 4);
      aux[0] = (aux[0] & kmask2) | (((tmp >>> 0) & kmask1) << 4);
      aux[1] = (aux[1] & kmask2) | (((tmp >>> 2) & kmask1) << 4);
      const scales = new Int8Array(aux.buffer);
      let q = 32;
      let m = 1;
      let is = 0;
      let at = 0;
      for (let n = 0; n < 256; n += 128) {
        let shift = 0;
        for (let j = 0; j < 4; ++j) {
          for (const half of [0, 16]) {
            const dl = Math.fround(d * (scales[is++] - 32));
            for (let l = 0; l < 16; ++l) {
              y[at++] = dl * (((x[q + l + half] >> shift) & 3) - (x[l + half] & m ? 0 : 4));
            }
          }
          shift += 2;
          m <<= 1;
        }
        q += 32;
      }
      return y;
    };
    // dequantize_row_iq4_xs, transcribed.
    const iq4xs = (x: Uint8Array) => {
      const values = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
      const y = new Float32Array(256);
      const d = f16(x, 0);
      const scalesH = x[2] | (x[3] << 8);
      for (let ib = 0; ib < 8; ++ib) {
        const ls =
          ((x[4 + (ib >> 1)] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
        const dl = Math.fround(d * (ls - 32));
        for (let j = 0; j < 16; ++j) {
          y[32 * ib + j] = dl * values[x[8 + 16 * ib + j] & 0xf];
          y[32 * ib + j + 16] = dl * values[x[8 + 16 * ib + j] >> 4];
        }
      }
      return y;
    };
    const rng = new Rng(7);
    for (const [format, oracle] of [
      [Q2_K, q2k],
      [Q3_K, q3k],
      [IQ4_XS, iq4xs],
    ] as const) {
      for (let t = 0; t < 30; t++) {
        const block = randomBlock(rng, format.blockBytes, format.halfOffsets);
        expect(format.dequantize(block, 256), format.name).toEqual(oracle(block));
      }
    }
  });

  it('dequantize K-quant blocks exactly as GGML does', () => {
    const rng = new Rng(5);
    const cases = [
      { format: Q4_K, oracle: ggmlQ4K },
      { format: Q5_K, oracle: ggmlQ5K },
      { format: Q6_K, oracle: ggmlQ6K },
    ];
    for (const { format, oracle } of cases) {
      for (let t = 0; t < 20; t++) {
        const block = randomBlock(rng, format.blockBytes, format.halfOffsets);
        expect(format.dequantize(block, 256), format.name).toEqual(oracle(block));
      }
    }
  });

  // Error of our quantizers on uniform data, each near what the format's bits allow.
  const limits: Record<string, number> = {
    F32: 0,
    F16: 1e-7,
    BF16: 2e-5,
    Q8_0: 5e-5,
    Q6_K: 5e-4,
    Q5_K: 3e-3,
    Q4_0: 1e-2,
    Q5_0: 3e-3,
    Q4_1: 1e-2,
    Q5_1: 3e-3,
    IQ4_NL: 1e-2,
    IQ4_XS: 1e-2,
    Q3_K: 4e-2,
    Q2_K: 8e-2,
    Q4_K: 1e-2,
  };
  for (const format of Object.values(quantFormats)) {
    it(`${format.name}: quantize then dequantize stays within ${limits[format.name]} NMSE`, () => {
      const rng = new Rng(11);
      const x = rng.floats(4096, 2);
      const q = format.quantize(x);
      expect(q.length).toBe((x.length / format.blockValues) * format.blockBytes);
      const back = format.dequantize(q, x.length);
      expect(nmse(back, x)).toBeLessThanOrEqual(limits[format.name]);
    });
  }
});
