import { DOT_INPUT_BLOCK, type DotInput } from '../../quant/dot-input.js';
import type { QuantFormat } from '../../quant/format.js';
import { bf16ToF32, f32ToBf16, roundToF16 } from '../../util/half.js';

const f = Math.fround;

/** Round half to even, as llama.cpp's nearest_int and SIMD rounding do. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** x (n,) -> (n,): x as llama.cpp's dot products see it against weights of that input kind. */
export function dotInputReference(x: Float32Array, kind: DotInput): Float32Array {
  switch (kind) {
    case 'f32':
      return Float32Array.from(x);
    case 'f16':
      return x.map(roundToF16);
    case 'bf16':
      return x.map((v) => bf16ToF32(f32ToBf16(v)));
    case 'q8_0':
    case 'q8_1':
    case 'q8_k':
      return blockwise(x, kind === 'q8_1' ? 'q8_0' : kind);
  }
}

function blockwise(x: Float32Array, kind: 'q8_0' | 'q8_k'): Float32Array {
  const block = DOT_INPUT_BLOCK[kind];
  if (x.length % block !== 0) {
    throw new RangeError(`${kind} rounds whole blocks of ${block} values, got ${x.length}`);
  }
  const out = new Float32Array(x.length);
  for (let start = 0; start < x.length; start += block) {
    let amax = 0;
    let m = 0;
    for (let j = start; j < start + block; j++) {
      if (Math.abs(x[j]) > amax) {
        amax = Math.abs(x[j]);
        m = x[j];
      }
    }
    if (amax === 0) continue;
    if (kind === 'q8_0') {
      // quantize_row_q8_0 (x86): d stored as f16, q from the unrounded 127 / amax.
      const d = roundToF16(f(amax / 127));
      const id = f(127 / amax);
      for (let j = start; j < start + block; j++) out[j] = f(d * roundEven(f(x[j] * id)));
    } else {
      // quantize_row_q8_K: the largest-magnitude value maps to -127.
      const iscale = f(-127 / m);
      const d = f(1 / iscale);
      for (let j = start; j < start + block; j++) {
        out[j] = f(d * Math.min(127, roundEven(f(iscale * x[j]))));
      }
    }
  }
  return out;
}

/**
 * Per 32-value block of x (n,): what llama.cpp's q8_1 block sum, f16(amax / 127 * Σq), adds
 * beyond the sum of the rounded values, f16(amax / 127) * Σq (quantize_row_q8_1, x86).
 */
export function q8_1Corrections(x: Float32Array): Float32Array {
  const block = DOT_INPUT_BLOCK.q8_1;
  const out = new Float32Array(x.length / block);
  for (let b = 0; b < out.length; b++) {
    let amax = 0;
    for (let j = b * block; j < (b + 1) * block; j++) amax = Math.max(amax, Math.abs(x[j]));
    if (amax === 0) continue;
    const d = f(amax / 127);
    const id = f(127 / amax);
    let qsum = 0;
    for (let j = b * block; j < (b + 1) * block; j++) qsum += roundEven(f(x[j] * id));
    out[b] = f(roundToF16(f(d * qsum)) - f(roundToF16(d) * qsum));
  }
  return out;
}

/**
 * What q8_1 dot products add to W · x̃ (x̃ the rounded x) for weights with block offsets m:
 * per row r, Σ_b m[r, b] * corrections[b], so that each block's offset meets llama.cpp's f16
 * block sum. W (rows, cols) in `format`'s bytes; x one vector of cols.
 */
export function q8_1OffsetTerms(
  format: QuantFormat,
  weights: Uint8Array,
  rows: number,
  cols: number,
  corrections: Float32Array,
): Float32Array {
  const offsets = format.blockOffsets!(weights, rows * cols);
  const blocks = cols / DOT_INPUT_BLOCK.q8_1;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let b = 0; b < blocks; b++) sum += offsets[r * blocks + b] * corrections[b];
    out[r] = sum;
  }
  return out;
}
