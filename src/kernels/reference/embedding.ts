import type { QuantFormat } from '../../quant/format.js';
import { rowBytes } from '../../quant/format.js';

/** table (vocab, dim) in `format`, ids (tokens,) -> (tokens, dim) f32; ids ≥ vocab give zeros. */
export function embeddingReference(
  format: QuantFormat,
  table: Uint8Array,
  vocab: number,
  dim: number,
  ids: Uint32Array,
): Float32Array {
  const bytes = rowBytes(format, dim);
  const out = new Float32Array(ids.length * dim);
  ids.forEach((id, t) => {
    if (id < vocab)
      out.set(format.dequantize(table.subarray(id * bytes, (id + 1) * bytes), dim), t * dim);
  });
  return out;
}
