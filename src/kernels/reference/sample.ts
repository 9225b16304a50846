import type { SamplingSettings } from '../sample.js';

/**
 * The tokens the filters keep, in vocabulary order, with their sampling weights
 * exp((logit - max) / temperature), in f64. logits (n,).
 */
export function keptTokens(
  logits: Float32Array,
  s: SamplingSettings,
): { ids: number[]; weights: number[] } {
  const n = logits.length;
  let top = -Infinity;
  for (const x of logits) top = Math.max(top, x);
  if (s.temperature <= 0) return { ids: [logits.indexOf(top)], weights: [1] };
  let kth = -Infinity;
  if (s.topK && s.topK > 0 && s.topK < n)
    kth = Float32Array.from(logits).sort().reverse()[s.topK - 1];
  const f = (x: number) => Math.exp(x - top);
  let p = 0;
  if (s.topP !== undefined && s.topP < 1) {
    const survivors = Array.from(logits)
      .filter((x) => x >= kth)
      .map(f)
      .sort((a, b) => b - a);
    const goal = s.topP * survivors.reduce((a, b) => a + b, 0);
    let cum = 0;
    for (const value of survivors) {
      cum += value;
      if (cum >= goal) {
        p = value;
        break;
      }
    }
  }
  const ids: number[] = [];
  const weights: number[] = [];
  logits.forEach((x, i) => {
    if (x >= kth && f(x) >= p && f(x) >= (s.minP ?? 0)) {
      ids.push(i);
      weights.push(Math.exp((x - top) / s.temperature));
    }
  });
  return { ids, weights };
}

/** The token a uniform draw u in [0, 1) picks from logits (n,) under `s`. */
export function sampleReference(logits: Float32Array, s: SamplingSettings, u: number): number {
  // No finite logit to take (sample.wgsl): none, 0xffffffff.
  const top = logits.reduce((a, b) => (b > a ? b : a), -Infinity);
  if (!Number.isFinite(top)) return 0xffffffff;
  const { ids, weights } = keptTokens(logits, s);
  const total = weights.reduce((a, b) => a + b, 0);
  let running = 0;
  for (let t = 0; t < ids.length; t++) {
    running += weights[t];
    if (u * total < running) return ids[t];
  }
  return ids[ids.length - 1];
}
