// Checks of the sampling kernels: argmax, top-k/top-p/min-p sampling, penalties and the
// grammar's token mask.
import type { GpuContext } from '../../gpu/context.js';
import { Rng } from '../../util/rng.js';
import { Argmax } from '../argmax.js';
import { argmaxReference } from '../reference/elementwise.js';
import { Sampler, type SamplingSettings } from '../sample.js';
import { keptTokens, sampleReference } from '../reference/sample.js';
import { countTokens, Penalties, type PenaltySettings } from '../penalties.js';
import { maskWords, TokenMask, tokenMaskReference } from '../token-mask.js';
import { penaltiesReference } from '../reference/penalties.js';
import type { KernelOptions } from '../variant.js';
import { type KernelCheckResult, asActivations, checkAgainstReference } from './harness.js';

export async function checkArgmax(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  // Coarse values (exact in f16 too), so ties happen and must go to the lowest index.
  const logits = Float32Array.from({ length: rows * n }, () => rng.int(-50, 50) / 4);
  const kernel = await Argmax.load(gpu, options);
  const expected = argmaxReference(logits, rows, n);
  return checkAgainstReference(gpu, {
    kernel: 'argmax',
    variant: kernel.key.name,
    shape: `${rows}x${n}`,
    inputs: [{ act: logits }],
    expected: new Float32Array(expected.buffer),
    limit: 0,
    exactIds: true,
    activations: options.activations,
    encode: (batch, [l], ids) => kernel.encode(batch, { logits: l, ids, rows, n }),
  });
}

/**
 * GPU sampling against the reference: one row per draw, each u placed in the middle of a kept
 * token's share of the running sum (so f32 and f64 agree on the answer), u = 0 included.
 * Logits are drawn again (next seed) while a top-p boundary sits within rounding of its goal.
 */
export async function checkSample(
  gpu: GpuContext,
  n: number,
  settings: SamplingSettings,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  let logits: Float32Array = new Float32Array(0);
  for (let attempt = 0; attempt < 20; attempt++) {
    const rng = new Rng(seed + attempt);
    logits = asActivations(rng.floats(n, 8), options.activations);
    if (topPMargin(logits, settings) > 1e-3) break;
  }
  const { ids, weights } = keptTokens(logits, settings);
  const total = weights.reduce((a, b) => a + b, 0);
  const draws: number[] = [0];
  const step = Math.max(1, Math.floor(ids.length / 12));
  let before = 0;
  weights.forEach((w, t) => {
    if (t % step === 0 && w / total > 1e-6) draws.push((before + w / 2) / total);
    before += w;
  });
  const expected = Uint32Array.from(draws, (u) => sampleReference(logits, settings, u));
  const rows = draws.length;
  const repeated = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) repeated.set(logits, r * n);
  const kernel = await Sampler.load(gpu, options);
  const s = settings;
  return checkAgainstReference(gpu, {
    kernel: 'sample',
    variant: kernel.key.name,
    shape: `${rows}x${n} t${s.temperature} k${s.topK ?? 0} p${s.topP ?? 1} min${s.minP ?? 0}`,
    inputs: [{ act: repeated }, Sampler.settings(draws.map((u) => ({ settings, u })))],
    expected: new Float32Array(expected.buffer),
    limit: 0,
    exactIds: true,
    activations: options.activations,
    encode: (batch, [l, st], out) =>
      kernel.encode(batch, { logits: l, settings: st, ids: out, rows, n }),
  });
}

/**
 * Penalties in place on logits (rows, n): each row's window is random recent tokens with
 * repeats (so counts exceed 1) and one id past the vocabulary (skipped).
 */
export async function checkPenalties(
  gpu: GpuContext,
  rows: number,
  n: number,
  settings: PenaltySettings,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const logits = asActivations(rng.floats(rows * n, 8), options.activations);
  const counts = Array.from({ length: rows }, () => {
    const distinct = Array.from({ length: Math.min(n, 24) }, () => rng.int(0, n - 1));
    const window = Array.from({ length: 64 }, () => distinct[rng.int(0, distinct.length - 1)]);
    return countTokens([...window, n + 5]);
  });
  const expected = new Float32Array(rows * n);
  counts.forEach((c, r) => {
    const row = logits.subarray(r * n, (r + 1) * n);
    expected.set(asActivations(penaltiesReference(row, c, settings), options.activations), r * n);
  });
  const entries = Penalties.entries(counts);
  const kernel = await Penalties.load(gpu, options);
  const s = settings;
  return checkAgainstReference(gpu, {
    kernel: 'penalties',
    variant: kernel.key.name,
    shape: `${rows}x${n} repeat ${s.repeat} freq ${s.frequency} presence ${s.presence}`,
    inputs: [entries],
    initialOut: logits,
    expected,
    limit: 1e-12,
    activations: options.activations,
    encode: (batch, [e], out) =>
      kernel.encode(batch, { logits: out, entries: e, count: entries.length / 3, n, settings }),
  });
}

/** A random mask over (rows, n) logits, some rows nearly closed, applied in place. */
export async function checkTokenMask(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const logits = asActivations(rng.floats(rows * n, 8), options.activations);
  const words = maskWords(n);
  const mask = new Uint32Array(rows * words);
  for (let r = 0; r < rows; r++) {
    // Row r allows about 1 token in 2^r (at least one).
    for (let w = 0; w < words; w++) {
      let word = rng.int(0, 0xffff) | (rng.int(0, 0xffff) << 16);
      for (let k = 0; k < r; k++) word &= rng.int(0, 0xffff) | (rng.int(0, 0xffff) << 16);
      mask[r * words + w] = word >>> 0;
    }
    mask[r * words] |= 1;
  }
  const kernel = await TokenMask.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: 'token_mask',
    variant: kernel.key.name,
    shape: `${rows}x${n}`,
    inputs: [mask],
    initialOut: logits,
    expected: tokenMaskReference(logits, mask, n),
    limit: 0,
    activations: options.activations,
    encode: (batch, [m], out) => kernel.encode(batch, { logits: out, mask: m, rows, n }),
  });
}

/** How far (relative) the top-p goal is from the running sums either side of it; ∞ if off. */
function topPMargin(logits: Float32Array, s: SamplingSettings): number {
  if (s.temperature <= 0 || s.topP === undefined || s.topP >= 1) return Infinity;
  const top = logits.reduce((a, b) => Math.max(a, b), -Infinity);
  const kth =
    s.topK && s.topK < logits.length
      ? Float32Array.from(logits).sort().reverse()[s.topK - 1]
      : -Infinity;
  const f = Array.from(logits)
    .filter((x) => x >= kth)
    .map((x) => Math.exp(x - top))
    .sort((a, b) => b - a);
  const goal = s.topP * f.reduce((a, b) => a + b, 0);
  let cum = 0;
  for (const v of f) {
    if (cum + v >= goal) return Math.min(goal - cum, cum + v - goal) / goal;
    cum += v;
  }
  return 0;
}
