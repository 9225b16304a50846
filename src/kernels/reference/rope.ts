import type { RopeConfig } from '../rope-angles.js';

/**
 * x (tokens, heads, headDim), cache (tokens, ropeDims / 2, 2) from ropeCache -> rotated copy of
 * x: pair i of every head of token t turns by the cache's cos and sin for (t, i).
 */
export function ropeReference(x: Float32Array, cache: Float32Array, c: RopeConfig): Float32Array {
  const out = x.slice();
  const half = c.ropeDims / 2;
  const tokens = x.length / (c.heads * c.headDim);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < c.heads; h++) {
      const base = (t * c.heads + h) * c.headDim;
      for (let i = 0; i < half; i++) {
        const cos = cache[(t * half + i) * 2];
        const sin = cache[(t * half + i) * 2 + 1];
        const [a, b] = c.neox ? [base + i, base + i + half] : [base + 2 * i, base + 2 * i + 1];
        const x0 = x[a];
        const x1 = x[b];
        out[a] = x0 * cos - x1 * sin;
        out[b] = x0 * sin + x1 * cos;
      }
    }
  }
  return out;
}
