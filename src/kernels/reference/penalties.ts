import type { PenaltySettings } from '../penalties.js';

/** logits (n,) and the window's token counts -> penalized logits (n,), a new array. */
export function penaltiesReference(
  logits: Float32Array,
  counts: ReadonlyMap<number, number>,
  s: PenaltySettings,
): Float32Array {
  const out = Float32Array.from(logits);
  for (const [token, seen] of counts) {
    if (token >= out.length) continue;
    let x = out[token];
    x = x <= 0 ? x * s.repeat : x / s.repeat;
    out[token] = x - (seen * s.frequency + s.presence);
  }
  return out;
}
