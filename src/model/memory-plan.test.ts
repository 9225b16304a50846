import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuAllocationError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { Decoder } from './decoder.js';
import { checkPlan, explain, kvCacheBufferBytes } from './memory-plan.js';
import { tinyModel } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
});
afterAll(() => gpu?.destroy());

describe('memory plan', () => {
  it('matches the buffers a decoder makes', async () => {
    const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q4_K', layers: 2 });
    const decoder = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 100, kv: 'f32' });
    try {
      const plan = decoder.memory;
      // Groups of tensors share a buffer padded to 4 bytes: at most 3 bytes a buffer over.
      expect(decoder.weights.bytes - plan.weights).toBeGreaterThanOrEqual(0);
      expect(decoder.weights.bytes - plan.weights).toBeLessThan(4 * bytes.length);
      expect(plan.kvCachePerBuffer).toBe(kvCacheBufferBytes(decoder.config, 100));
      // 100 tokens take 7 blocks of 16: 112 rows of kvHeads × headDim f32 values.
      expect(plan.kvCachePerBuffer).toBe(112 * decoder.config.kvHeads * decoder.config.headDim * 4);
      expect(plan.kvCache).toBe(2 * 2 * plan.kvCachePerBuffer);
      expect(plan.total).toBe(plan.weights + plan.kvCache + plan.activations);
    } finally {
      decoder.destroy();
    }
  });

  it('refuses a context whose KV cache cannot be bound, naming the largest that can', async () => {
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'Q8_0', layers: 1 });
    const decoder = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 512, kv: 'f32' });
    const { config, memory } = decoder;
    decoder.destroy();
    // A per-binding limit of 64 KiB holds 128 tokens of 2 heads × 64 f32 values.
    const limits = { ...gpu.facts.limits, maxStorageBufferBindingSize: 64 << 10 };
    expect(() => checkPlan(memory, config, 512, limits)).toThrow(GpuAllocationError);
    expect(() => checkPlan(memory, config, 512, limits)).toThrow(
      /512-token context needs 256\.0 KiB of f32 KV cache per layer.*at most 64\.0 KiB: pass a contextSize of at most 128, or kv 'f16' or 'int8'/,
    );
    expect(() => checkPlan(memory, config, 512, gpu.facts.limits)).not.toThrow();
  });

  it('adds the totals to an allocation failure, and leaves other errors alone', () => {
    const plan = {
      sequences: 1,
      kv: 'f32' as const,
      kvBlocks: 1 << 10,
      kvLimitedBy: 'context' as const,
      weights: 1 << 30,
      kvCache: 1 << 20,
      kvCachePerBuffer: 1 << 19,
      activations: 4096,
      total: (1 << 30) + (1 << 20) + 4096,
    };
    const failed = explain(new GpuAllocationError('could not allocate buffer "x"'), plan, 2048);
    expect(failed).toBeInstanceOf(GpuAllocationError);
    expect((failed as Error).message).toMatch(
      /needs 1\.00 GiB of GPU buffers in all: weights 1\.00 GiB, KV cache 1\.00 MiB for 2048 tokens/,
    );
    const other = new TypeError('not about memory');
    expect(explain(other, plan, 2048)).toBe(other);
  });
});
