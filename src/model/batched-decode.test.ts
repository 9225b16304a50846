import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { compareToReference } from '../kernels/testing/compare.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { Decoder } from './decoder.js';
import { tinyModel } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

// Several sequences (sub-agents' conversations) in one decoder: a step advances them together,
// and each gets what it would get alone.

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
});
afterAll(() => gpu?.destroy());

const STEPS = 24;
const prompts = [[1, 20, 30, 40, 50], [7, 8, 9], [100, 3, 200, 44, 61, 62, 63, 17, 5], [250]];

describe('batched decode', () => {
  it('4 sequences decoded together give the tokens and logits each gives alone', async () => {
    const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q4_K', layers: 2, seed: 4 });
    const decoder = await Decoder.load(gpu, bytesSource(bytes), {
      contextSize: 64,
      sequences: 4,
    });
    try {
      // Alone: the decoder's own sequence, one prompt at a time.
      const alone: number[][] = [];
      const aloneLast: Float32Array[] = [];
      for (const prompt of prompts) {
        decoder.reset();
        await decoder.forward(prompt);
        const out = [await decoder.argmax()];
        while (out.length < STEPS) {
          await decoder.forward([out[out.length - 1]]);
          out.push(await decoder.argmax());
        }
        alone.push(out);
        aloneLast.push(await decoder.logits());
      }
      // Together: four sequences, one token each per step.
      decoder.reset();
      const ids = [0, decoder.addSequence(), decoder.addSequence(), decoder.addSequence()];
      expect(() => decoder.addSequence()).toThrow(/holds 4 sequences/);
      // Prompts one sequence at a time (a step's rows go through the same kernels alone and
      // together only when the step has the same number of rows), then decode together.
      const together: number[][] = [];
      for (const [i, tokens] of prompts.entries()) {
        await decoder.forwardBatch([{ sequence: ids[i], tokens }]);
        together.push([await decoder.argmax()]);
      }
      while (together[0].length < STEPS) {
        await decoder.forwardBatch(
          together.map((out, i) => ({ sequence: ids[i], tokens: [out[out.length - 1]] })),
        );
        (await decoder.argmaxRows(4)).forEach((t, i) => together[i].push(t));
      }
      expect(together).toEqual(alone);
      for (let i = 0; i < 4; i++) {
        const c = compareToReference(await decoder.logits(i), aloneLast[i], 1e-12);
        expect(c.nmse, `sequence ${i}`).toBeLessThanOrEqual(1e-12);
      }
      expect(decoder.kvStats()).toMatchObject({ sequences: 4, usedBlocks: 8 });
      for (const id of ids.slice(1)) decoder.removeSequence(id);
      expect(decoder.kvStats()).toMatchObject({ sequences: 1 });
    } finally {
      decoder.destroy();
    }
  });

  it('a shared prefix (adopted or forked) gives what a sequence of its own gives', async () => {
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'Q8_0', layers: 2, seed: 9 });
    const decoder = await Decoder.load(gpu, bytesSource(bytes), {
      contextSize: 96,
      sequences: 4,
    });
    try {
      const system = Array.from({ length: 40 }, (_, i) => (i * 13 + 5) % 300);
      const question = [11, 12, 13, 14, 15];
      // Cold: the whole prompt through a sequence of its own.
      await decoder.forward([...system, ...question]);
      const cold = await decoder.logits();
      // Another sequence runs the system prompt; a third adopts its two full blocks.
      decoder.reset();
      await decoder.forward(system);
      const b = decoder.addSequence();
      expect(decoder.adoptPrefix(b, [...system, ...question])).toBe(32);
      expect(decoder.kvStats()).toMatchObject({ prefixHits: 2, usedBlocks: 3 });
      await decoder.forwardBatch([{ sequence: b, tokens: [...system.slice(32), ...question] }]);
      expect(decoder.sequenceLength(b)).toBe(45);
      const warm = compareToReference(await decoder.logits(), cold, 1e-12);
      expect(warm.nmse).toBeLessThanOrEqual(1e-12);
      // A fork of the system prompt (its partial third block copied) asks the same question.
      const c = await decoder.forkSequence(0);
      await decoder.forwardBatch([{ sequence: c, tokens: question }]);
      const forked = compareToReference(await decoder.logits(), cold, 1e-12);
      expect(forked.nmse).toBeLessThanOrEqual(1e-12);
      // The original is untouched by either: it asks too, and gets the same.
      await decoder.forward(question);
      expect(compareToReference(await decoder.logits(), cold, 1e-12).nmse).toBeLessThanOrEqual(
        1e-12,
      );
    } finally {
      decoder.destroy();
    }
  });
});
