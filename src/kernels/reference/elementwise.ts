import { roundToF16 } from '../../util/half.js';

/** gate (n,), up (n,) -> silu(gate) * up (n,). */
export function siluMulReference(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
}

/**
 * GELU (tanh form) as llama.cpp's CPU computes it (GGML_GELU_FP16): 0 at or below -10, x at or
 * above 10, else its f16 table: gelu of the input rounded to f16, rounded to f16.
 */
export function geluGgml(x: number): number {
  if (x <= -10) return 0;
  if (x >= 10) return x;
  const f = Math.fround;
  const h = roundToF16(x);
  const inner = f(f(0.7978845608028654 * h) * f(1 + f(f(0.044715 * h) * h)));
  return roundToF16(f(f(0.5 * h) * f(1 + Math.tanh(inner))));
}

/** gate (n,), up (n,) -> gelu(gate) * up (n,), GELU as geluGgml. */
export function geluMulReference(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => geluGgml(g) * up[i]);
}

/** a (n,), b (n,) -> a + b (n,); b shorter than a repeats (a bias over rows). */
export function addReference(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i % b.length]);
}

/** logits (rows, n) -> (rows,) index of each row's largest value, ties to the lowest. */
export function argmaxReference(logits: Float32Array, rows: number, n: number): Uint32Array {
  const ids = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let i = 1; i < n; i++) {
      const v = logits[r * n + i];
      // NaN loses to any number (argmax.wgsl's order); a number beats a NaN best.
      if (v > logits[r * n + best] || (Number.isNaN(logits[r * n + best]) && !Number.isNaN(v))) {
        best = i;
      }
    }
    // A best that is not finite (all NaN, or an infinity): none, 0xffffffff.
    ids[r] = Number.isFinite(logits[r * n + best]) ? best : 0xffffffff;
  }
  return ids;
}

/** x (rows, n) -> softmax(scale * x) per row, in f64. */
export function softmaxReference(
  x: Float32Array,
  rows: number,
  n: number,
  scale: number,
): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let top = -Infinity;
    for (let i = 0; i < n; i++) top = Math.max(top, scale * x[r * n + i]);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(scale * x[r * n + i] - top);
    for (let i = 0; i < n; i++) out[r * n + i] = Math.exp(scale * x[r * n + i] - top) / sum;
  }
  return out;
}
