export interface RopeConfig {
  heads: number;
  headDim: number;
  /** Rotated elements per head (even, ≤ headDim). */
  ropeDims: number;
  freqBase: number;
  /** Linear position scaling, 1 / factor. */
  freqScale: number;
  /** NeoX pairs (x[i], x[i + d/2]) instead of adjacent (x[2i], x[2i+1]). */
  neox: boolean;
}

/** x (tokens, heads, headDim), positions (tokens,) -> rotated copy of x. */
export function ropeReference(
  x: Float32Array,
  positions: Uint32Array,
  c: RopeConfig,
): Float32Array {
  const out = x.slice();
  const half = c.ropeDims / 2;
  for (let t = 0; t < positions.length; t++) {
    for (let h = 0; h < c.heads; h++) {
      const base = (t * c.heads + h) * c.headDim;
      for (let i = 0; i < half; i++) {
        const theta = positions[t] * c.freqScale * c.freqBase ** ((-2 * i) / c.ropeDims);
        const [a, b] = c.neox ? [base + i, base + i + half] : [base + 2 * i, base + 2 * i + 1];
        const x0 = x[a];
        const x1 = x[b];
        out[a] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
        out[b] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
      }
    }
  }
  return out;
}
