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

/**
 * One sequence alone in `decoder` (after a reset): its prompt at once, then greedy tokens until
 * there are `steps`, and the logits of the last step.
 */
async function alone(decoder: Decoder, prompt: number[], steps: number) {
  decoder.reset();
  await decoder.forward(prompt);
  const tokens = [await decoder.argmax()];
  while (tokens.length < steps) {
    await decoder.forward([tokens[tokens.length - 1]]);
    tokens.push(await decoder.argmax());
  }
  return { tokens, logits: await decoder.logits() };
}
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
      const runs = [];
      for (const prompt of prompts) runs.push(await alone(decoder, prompt, STEPS));
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
      expect(together).toEqual(runs.map((r) => r.tokens));
      for (let i = 0; i < 4; i++) {
        const c = compareToReference(await decoder.logits(i), runs[i].logits, 1e-12);
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
  it('on a GPU, 10 sequences decode together as matvecs of 10 rows, each as it does alone', async () => {
    // A GPU's decode takes up to 16 rows as matvecs (tuning.ts's matvecMaxRows; SwiftShader 8),
    // with integer products and x staged per workgroup: chosen here as for a GPU.
    const hardware = await acquireNodeGpu({ tuneFor: 'hardware' });
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'Q4_0', layers: 2, seed: 5 });
    const decoder = await Decoder.load(hardware, bytesSource(bytes), {
      contextSize: 32,
      sequences: 10,
    });
    const steps = 3;
    const starts = Array.from({ length: 10 }, (_, i) => 3 + 17 * i);
    try {
      const runs = [];
      for (const start of starts) runs.push(await alone(decoder, [start], steps));
      decoder.reset();
      const ids = [0, ...Array.from({ length: 9 }, () => decoder.addSequence())];
      const together = starts.map((start) => [start]);
      while (together[0].length <= steps) {
        await decoder.forwardBatch(
          together.map((out, i) => ({ sequence: ids[i], tokens: [out[out.length - 1]] })),
        );
        (await decoder.argmaxRows(10)).forEach((t, i) => together[i].push(t));
      }
      // Each sequence's tokens after its first.
      expect(together.map((out) => out.slice(1))).toEqual(runs.map((r) => r.tokens));
      for (let i = 0; i < 10; i++) {
        const c = compareToReference(await decoder.logits(i), runs[i].logits, 1e-12);
        expect(c.nmse, `sequence ${i}`).toBeLessThanOrEqual(1e-12);
      }
      const names = hardware.pipelines.names();
      expect(names).toContainEqual(expect.stringMatching(/^matvec_.*_m10_.*_idot_xs\d+_/));
    } finally {
      decoder.destroy();
      hardware.destroy();
    }
  });

  it("a long prompt prefilled in chunks beside others' decode steps changes no one's tokens", async () => {
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'Q4_0', layers: 2, seed: 12 });
    // Steps of more than 8 rows take the GEMM (on a software adapter; 16 on a GPU), whose sums
    // differ from the matvec's in the last bit; rounding matmul inputs to 8-bit blocks
    // (llama.cpp's way) can turn that into a whole step of one input (5e-5 logits NMSE here) and
    // flip a near tie. f32 inputs keep the two paths within 1e-12, so equal tokens test the
    // scheduling, not the rounding.
    const decoder = await Decoder.load(gpu, bytesSource(bytes), {
      contextSize: 160,
      sequences: 3,
      matmulInputs: 'f32',
    });
    const long = Array.from({ length: 100 }, (_, i) => (i * 29 + 3) % 300);
    const CHUNK = 16;
    try {
      const want = [
        (await alone(decoder, long, 8)).tokens,
        (await alone(decoder, [7, 8, 9], 16)).tokens,
        (await alone(decoder, [250], 16)).tokens,
      ];
      // Together: two conversations decode while the third's prompt goes in 16 tokens a step,
      // in the same steps (7 prefill chunks), then all three decode.
      decoder.reset();
      const ids = [0, decoder.addSequence(), decoder.addSequence()];
      const got: number[][] = [[], [], []];
      for (const [i, prompt] of [
        [1, [7, 8, 9]],
        [2, [250]],
      ] as const) {
        await decoder.forwardBatch([{ sequence: ids[i], tokens: prompt }]);
        got[i].push(await decoder.argmax());
      }
      let fed = 0;
      let steps = 0;
      while (got.some((out, i) => out.length < want[i].length)) {
        const step = [];
        const prefilling = fed < long.length;
        if (prefilling) {
          step.push({ sequence: ids[0], tokens: long.slice(fed, fed + CHUNK) });
          fed += CHUNK;
        } else if (got[0].length < want[0].length) {
          step.push({ sequence: ids[0], tokens: [got[0][got[0].length - 1]] });
        }
        const decoding = [1, 2].filter((i) => got[i].length < want[i].length);
        for (const i of decoding) {
          step.push({ sequence: ids[i], tokens: [got[i][got[i].length - 1]] });
        }
        await decoder.forwardBatch(step);
        const next = await decoder.argmaxRows(step.length);
        let row = 0;
        if (prefilling) {
          if (fed >= long.length) got[0].push(next[row]);
          row++;
        } else if (step[0]?.sequence === ids[0]) got[0].push(next[row++]);
        for (const i of decoding) got[i].push(next[row++]);
        steps++;
      }
      expect(got).toEqual(want);
      // The decoding conversations never waited for the prompt: one token each every step.
      expect(steps).toBe(15);
    } finally {
      decoder.destroy();
    }
  });
});
