import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { compareToReference } from '../kernels/testing/compare.js';
import type { KvOverflow } from '../kv/paged-kv-cache.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { Decoder } from './decoder.js';
import { tinyModel, type TinyArchitecture } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

// The decoder's sliding window with attention sinks: generation past the cache's capacity in
// constant memory, keys rotated back as older tokens leave (llama.cpp's context shift).

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
});
afterAll(() => gpu?.destroy());

const window = { window: 32, sinks: 4 }; // a sink block and two window blocks: 48 tokens

/** Greedy steps from `prompt`, feeding each token back. */
async function greedy(d: Decoder, prompt: number[], steps: number): Promise<number[]> {
  for (let i = 0; i < prompt.length; i += d.maxStep)
    await d.forward(prompt.slice(i, i + d.maxStep));
  const out = [await d.argmax()];
  while (out.length < steps) {
    await d.forward([out[out.length - 1]]);
    out.push(await d.argmax());
  }
  return out;
}

describe('sliding window with attention sinks', () => {
  // One layer: a kept token's K and V depend on that token and its position alone, so a window
  // that shifted must give what a fresh cache of the same tokens at the same positions gives.
  for (const architecture of ['llama', 'qwen3'] as const satisfies TinyArchitecture[]) {
    it(`${architecture}: after each shift, the logits of a fresh run over the kept tokens`, async () => {
      const { bytes } = tinyModel({ architecture, weights: 'F32', layers: 1, seed: 5 });
      const windowed = await Decoder.load(gpu, bytesSource(bytes), {
        window,
        matmulInputs: 'f32',
      });
      const fresh = await Decoder.load(gpu, bytesSource(bytes), {
        contextSize: 64,
        matmulInputs: 'f32',
      });
      try {
        expect(windowed.contextSize).toBe(48);
        let shifts = 0;
        let worst = 0;
        let token = 1;
        for (let step = 0; step < 100; step++) {
          const evicted = windowed.evicted;
          await windowed.forward([token]);
          if (windowed.evicted > evicted) {
            shifts++;
            fresh.reset();
            await fresh.forward([...windowed.cachedTokens]);
            const c = compareToReference(await windowed.logits(), await fresh.logits(), 1e-9);
            expect(c.nonFinite).toBe(0);
            expect(c.nmse, `step ${step}`).toBeLessThanOrEqual(1e-9);
            worst = Math.max(worst, c.nmse);
          }
          token = await windowed.argmax();
        }
        expect(shifts).toBe(4); // at tokens 49, 65, 81 and 97
        console.log(
          `${architecture}: ${shifts} shifts, worst logits NMSE ${worst.toExponential(2)}`,
        );
      } finally {
        windowed.destroy();
        fresh.destroy();
      }
    });
  }

  it('runs 300 tokens in constant memory, keeps the sinks, and reports every eviction once', async () => {
    const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q8_0', layers: 2, seed: 6 });
    const overflows: KvOverflow[] = [];
    const d = await Decoder.load(gpu, bytesSource(bytes), {
      window,
      onOverflow: (o) => overflows.push(o),
    });
    try {
      const prompt = Array.from({ length: 40 }, (_, i) => (i * 7) % 200);
      const generated = await greedy(d, prompt, 260);
      const history = [...prompt, ...generated.slice(0, -1)]; // the last one is not fed yet
      const stats = d.kvStats();
      expect(stats.usedBlocks).toBe(3);
      expect(stats.bytesInUse).toBe(d.memory.kvCache);
      expect(d.cachedTokens.slice(0, 16)).toEqual(history.slice(0, 16));
      const kept = d.cachedTokens.length - 16;
      expect(d.cachedTokens.slice(16)).toEqual(history.slice(history.length - kept));
      let next = 16;
      for (const o of overflows) {
        expect(o.start).toBe(next);
        expect(o.tokens).toEqual(history.slice(o.start, o.end));
        next = o.end;
      }
      expect(next).toBe(history.length - kept);
      expect(d.evicted).toBe(history.length - d.cachedTokens.length);
      const logits = await d.logits();
      expect(logits.every(Number.isFinite)).toBe(true);
    } finally {
      d.destroy();
    }
  });
});
