/** gate (n,), up (n,) -> silu(gate) * up (n,). */
export function siluMulReference(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
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
    for (let i = 1; i < n; i++) if (logits[r * n + i] > logits[r * n + best]) best = i;
    ids[r] = best;
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
