/** x (rows, n), weight (n,) -> out (rows, n): x / sqrt(mean(x²) + eps) * weight. */
export function rmsNormReference(
  x: Float32Array,
  weight: Float32Array,
  rows: number,
  n: number,
  eps: number,
): Float32Array {
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let sumSq = 0;
    for (let i = 0; i < n; i++) sumSq += x[r * n + i] ** 2;
    const scale = 1 / Math.sqrt(sumSq / n + eps);
    for (let i = 0; i < n; i++) out[r * n + i] = x[r * n + i] * scale * weight[i];
  }
  return out;
}
