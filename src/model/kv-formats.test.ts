import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvCacheFullError, ShaderError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { compareToReference } from '../kernels/testing/compare.js';
import type { KvEviction } from '../kv/paged-kv-cache.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { Decoder } from './decoder.js';
import { BLOCK_TOKENS, kvCacheBufferBytes } from './memory-plan.js';
import { tinyModel } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

// The KV cache's formats (f32, f16, int8) and its memory budget: what a smaller cache costs in
// accuracy, and what happens when sequences want more blocks than the budget holds.

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
});
afterAll(() => gpu?.destroy());

const prompt = Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 250);

/** Logits of every step teacher-forced on `tokens` after `prompt`. */
async function stepLogits(d: Decoder, tokens: readonly number[]): Promise<Float32Array[]> {
  d.reset();
  await d.forward(prompt);
  const out = [await d.logits()];
  for (const t of tokens) {
    await d.forward([t]);
    out.push(await d.logits());
  }
  return out;
}

describe('KV cache formats', () => {
  it('int8 K/V: a quarter of the bytes, logits close to an f32 cache, the same greedy tokens', async () => {
    const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q8_0', layers: 2, seed: 8 });
    const f32 = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 96, kv: 'f32' });
    const int8 = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 96, kv: 'int8' });
    try {
      const { headDim } = f32.config;
      expect(int8.memory.kv).toBe('int8');
      expect(int8.memory.kvCache * 4 * headDim).toBe(f32.memory.kvCache * (headDim + 4));
      expect(int8.memory.kvCachePerBuffer).toBe(kvCacheBufferBytes(int8.config, 96, 'int8'));
      // The f32 cache's greedy tokens, then both teacher-forced on them.
      f32.reset();
      await f32.forward(prompt);
      const tokens = [await f32.argmax()];
      while (tokens.length < 24) {
        await f32.forward([tokens[tokens.length - 1]]);
        tokens.push(await f32.argmax());
      }
      const want = await stepLogits(f32, tokens.slice(0, -1));
      const got = await stepLogits(int8, tokens.slice(0, -1));
      let worst = 0;
      let agree = 0;
      for (const [i, logits] of got.entries()) {
        const c = compareToReference(logits, want[i], 1e-3);
        expect(c.nonFinite).toBe(0);
        expect(c.nmse, `step ${i}`).toBeLessThanOrEqual(1e-3);
        worst = Math.max(worst, c.nmse);
        const top = (l: Float32Array) => l.indexOf(Math.max(...l));
        if (top(logits) === tokens[i]) agree++;
      }
      expect(agree).toBeGreaterThanOrEqual(22);
      console.log(
        `int8 KV vs f32: worst logits NMSE ${worst.toExponential(2)}, ${agree}/24 argmax equal`,
      );
    } finally {
      f32.destroy();
      int8.destroy();
    }
  });

  it('int8 K/V in a sliding window: rotated rows give what a fresh cache of the kept tokens gives', async () => {
    // One layer: a kept token's K and V depend on that token and its position alone.
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'F32', layers: 1, seed: 5 });
    const options = { matmulInputs: 'f32', kv: 'int8' } as const;
    const windowed = await Decoder.load(gpu, bytesSource(bytes), {
      ...options,
      window: { window: 32, sinks: 4 },
    });
    const fresh = await Decoder.load(gpu, bytesSource(bytes), { ...options, contextSize: 64 });
    try {
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
          // Rotating int8 rows requantizes them: close, not bit for bit.
          const c = compareToReference(await windowed.logits(), await fresh.logits(), 1e-3);
          expect(c.nonFinite).toBe(0);
          expect(c.nmse, `step ${step}`).toBeLessThanOrEqual(1e-3);
          worst = Math.max(worst, c.nmse);
        }
        token = await windowed.argmax();
      }
      expect(shifts).toBe(4);
      console.log(`int8 KV window: ${shifts} shifts, worst logits NMSE ${worst.toExponential(2)}`);
    } finally {
      windowed.destroy();
      fresh.destroy();
    }
  });

  it('f16 K/V: on an adapter without shader-f16, a clear error naming what to use', async (ctx) => {
    if (gpu.facts.features.shaderF16) ctx.skip();
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'F16', layers: 1 });
    const load = Decoder.load(gpu, bytesSource(bytes), { contextSize: 64, kv: 'f16' });
    await expect(load).rejects.toThrow(ShaderError);
    await expect(
      Decoder.load(gpu, bytesSource(bytes), { contextSize: 64, kv: 'f16' }),
    ).rejects.toThrow(
      /f16 KV cache needs the adapter's shader-f16 feature.*use kv 'f32' or 'int8'/,
    );
  });

  it('f16 K/V: logits close to an f32 cache (where the adapter has shader-f16)', async (ctx) => {
    if (!gpu.facts.features.shaderF16) ctx.skip();
    const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q8_0', layers: 2, seed: 8 });
    const f32 = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 96, kv: 'f32' });
    const f16 = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 96, kv: 'f16' });
    try {
      expect(2 * f16.memory.kvCache).toBe(f32.memory.kvCache);
      const tokens = [5, 9, 200, 17, 3, 3, 40, 41];
      const want = await stepLogits(f32, tokens);
      const got = await stepLogits(f16, tokens);
      for (const [i, logits] of got.entries()) {
        expect(compareToReference(logits, want[i], 1e-5).nmse).toBeLessThanOrEqual(1e-5);
      }
    } finally {
      f32.destroy();
      f16.destroy();
    }
  });
});

describe('KV memory budget', () => {
  const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q4_K', layers: 2, seed: 4 });
  const tokens = (n: number, from: number) =>
    Array.from({ length: n }, (_, i) => (from + 7 * i) % 250);

  /** A decoder of two 64-token sequences in a pool of 6 blocks, each sequence holding 48. */
  async function crowded(options: Parameters<typeof Decoder.load>[2] = {}) {
    const probe = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 64, kv: 'f32' });
    const blockBytes = 2 * probe.config.layers * kvCacheBufferBytes(probe.config, BLOCK_TOKENS);
    probe.destroy();
    const d = await Decoder.load(gpu, bytesSource(bytes), {
      contextSize: 64,
      sequences: 2,
      kvBudget: 6 * blockBytes + blockBytes / 2,
      kv: 'f32',
      ...options,
    });
    const other = d.addSequence();
    await d.forwardBatch([{ sequence: 0, tokens: tokens(48, 1) }]);
    await d.forwardBatch([{ sequence: other, tokens: tokens(48, 2) }]);
    return { d, other, blockBytes };
  }

  it('sizes the pool from the budget; when it is full, a clear error and nothing changed', async () => {
    const { d, other } = await crowded();
    try {
      expect(d.memory.kvBlocks).toBe(6);
      expect(d.memory.kvLimitedBy).toBe('budget');
      expect(d.kvStats()).toMatchObject({ blocks: 6, usedBlocks: 6, freeBlocks: 0 });
      await expect(d.forward([5])).rejects.toThrow(KvCacheFullError);
      await expect(d.forward([5])).rejects.toThrow(/all 6 KV-cache blocks are in use/);
      expect(d.length).toBe(48);
      expect(d.sequenceLength(other)).toBe(48);
      // Ending the other conversation frees its blocks; the first goes on.
      d.removeSequence(other);
      await d.forward([5]);
      expect(d.length).toBe(49);
    } finally {
      d.destroy();
    }
  });

  it("whenFull 'evict-idle' empties the least recently used sequence, reports it, and goes on", async () => {
    const evictions: KvEviction[] = [];
    const { d, other } = await crowded({
      whenFull: 'evict-idle',
      onEvict: (e) => evictions.push(e),
    });
    const unbudgeted = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 64, kv: 'f32' });
    try {
      await d.forward([5]);
      expect(evictions).toEqual([
        { sequence: other, tokens: 48, freedBlocks: 3, forSequence: 0, neededBlocks: 1 },
      ]);
      expect(d.sequenceLength(other)).toBe(0);
      expect(d.length).toBe(49);
      expect(d.kvStats()).toMatchObject({ idleEvictions: 1, idleEvictedTokens: 48, usedBlocks: 4 });
      // The survivor's logits are those of a decoder with room to spare.
      await unbudgeted.forward([...tokens(48, 1), 5]);
      const c = compareToReference(await d.logits(), await unbudgeted.logits(), 1e-12);
      expect(c.nmse).toBeLessThanOrEqual(1e-12);
      // A step never evicts a sequence it advances: both in one step need 4 + 3 > 6 blocks.
      await expect(
        d.forwardBatch([
          { sequence: 0, tokens: [6] },
          { sequence: other, tokens: tokens(48, 2) },
        ]),
      ).rejects.toThrow(KvCacheFullError);
      expect(evictions).toHaveLength(1);
      expect(d.length).toBe(49);
    } finally {
      d.destroy();
      unbudgeted.destroy();
    }
  });

  it('refuses a budget too small for its sequences, naming the least that works', async () => {
    await expect(
      Decoder.load(gpu, bytesSource(bytes), { contextSize: 64, sequences: 2, kvBudget: 1000 }),
    ).rejects.toThrow(/KV budget of 1000 B holds 0 blocks.*give a kvBudget of at least/);
  });
});
