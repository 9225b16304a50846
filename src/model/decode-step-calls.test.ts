import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import type { GpuCounters } from '../gpu/batch.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { LanguageModel } from './language-model.js';
import { tinyModel } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

// What one decode step asks of WebGPU, counted on Dawn's null backend (it validates every call
// and runs none), as `npm run bench:host` counts it: after the first steps of a shape, a step
// is one compute pass and one submit, creates nothing, and runs at most 8 dispatches a layer.
const LAYERS = 4;

describe('a decode step’s WebGPU calls (null backend)', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await acquireNodeGpu({ backend: 'null' });
  });
  afterAll(() => gpu?.destroy());

  // Every architecture decodes in one pass; qwen3's q/k norms keep q, k and v apart (14
  // dispatches a layer), Gemma's post-norms and soft-caps add theirs.
  const models = [
    ['llama', 'Q4_0', 8],
    ['llama', 'Q4_K', 8],
    ['qwen3', 'Q4_K', 14],
    ['qwen2', 'Q8_0', 8],
    ['phi3', 'Q4_K', 8],
    ['gemma2', 'Q4_K', 12],
    ['gemma3', 'Q4_K', 18],
    ['exaone', 'Q4_0', 8],
  ] as const;
  for (const [architecture, weights, perLayer] of models) {
    it(`${architecture} ${weights}: a prefill chunk and a decode step are one pass and one submit; a decode step creates nothing and runs ≤ ${perLayer} dispatches a layer`, async () => {
      const { bytes } = tinyModel({
        architecture,
        weights,
        layers: LAYERS,
        embedding: 256,
        feedForward: 512,
        heads: 4,
        kvHeads: 2,
      });
      const model = await LanguageModel.load(gpu, bytesSource(bytes), { contextSize: 128 });
      try {
        const steps: GpuCounters[] = [];
        let before = { ...gpu.counters };
        const generation = model.generate('Once upon a time', {
          maxTokens: 8,
          temperature: 0,
          ignoreEos: true,
        });
        for await (const piece of generation) {
          void piece;
          const after = { ...gpu.counters };
          steps.push(difference(after, before));
          before = after;
        }
        expect((await generation.result).tokens).toHaveLength(8);
        // The first piece holds the prefill (one chunk: one pass as well, its last row
        // gathered, not copied) and the first draw; the second the first decode step of its
        // shape, which records the bind groups later steps replay.
        expect(steps[0]).toMatchObject({ submits: 1, computePasses: 1 });
        for (const step of steps.slice(2)) {
          expect(step).toMatchObject({
            submits: 1,
            computePasses: 1,
            bindGroupsCreated: 0,
            buffersCreated: 0,
          });
          // Embedding, output norm, output projection and the draw run once a step (Gemma's
          // embedding scale and logit soft-cap too).
          const perStep = architecture.startsWith('gemma') ? 6 : 4;
          expect(step.dispatches - perStep).toBeLessThanOrEqual(perLayer * LAYERS);
          // Gemma 3's local RoPE angles are a write of their own.
          expect(step.writes).toBeLessThanOrEqual(architecture === 'gemma3' ? 3 : 2);
          expect(step.bytesRead).toBe(4);
        }
      } finally {
        model.destroy();
      }
    });
  }
});

function difference(a: GpuCounters, b: GpuCounters): GpuCounters {
  const out = { ...a };
  for (const k of Object.keys(a) as (keyof GpuCounters)[]) out[k] = a[k] - b[k];
  return out;
}
