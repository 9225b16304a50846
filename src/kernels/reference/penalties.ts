/** Repetition, frequency and presence penalties, as llama.cpp's penalties sampler. */
export interface PenaltySettings {
  /** Divides positive logits and multiplies non-positive ones of seen tokens; 1: off. */
  repeat: number;
  /** Subtracted once per occurrence in the window; 0: off. */
  frequency: number;
  /** Subtracted once from every token in the window; 0: off. */
  presence: number;
}

/** Whether the settings change anything. */
export function penaltiesActive(s: PenaltySettings): boolean {
  return s.repeat !== 1 || s.frequency !== 0 || s.presence !== 0;
}

/** How often each token occurs in `window` (the last penalty_last_n tokens). */
export function countTokens(window: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const t of window) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

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
