/** x (cols,), w (rows, cols) row-major -> out (rows,). Accumulates in f64. */
export function matvecReference(
  w: Float32Array,
  x: Float32Array,
  rows: number,
  cols: number,
): Float32Array {
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += w[r * cols + c] * x[c];
    out[r] = acc;
  }
  return out;
}
