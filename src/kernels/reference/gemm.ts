/** x (m, k), w (n, k) row-major -> out (m, n) = x · wᵀ. Accumulates in f64. */
export function gemmReference(
  x: Float32Array,
  w: Float32Array,
  m: number,
  n: number,
  k: number,
): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let l = 0; l < k; l++) acc += x[i * k + l] * w[j * k + l];
      out[i * n + j] = acc;
    }
  }
  return out;
}
