import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { compareToReference } from '../kernels/testing/compare.js';
import { Decoder } from './decoder.js';
import { parseGguf } from './gguf/reader.js';
import type { QuantName } from './quant/index.js';
import { tinyModel, type TinyArchitecture } from './testing/tiny-model.js';
import { tokenizerFromGguf } from './tokenizer/index.js';
import { bytesSource } from './weights.js';

// The golden check: a generated model gives llama.cpp's prompt tokens, last-position logits
// (NMSE <= 1e-4) and greedy tokens (64 steps), for each architecture and weight format.

const dir = mkdtempSync(join(tmpdir(), 'agentgpu-decoder-'));
let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
});
afterAll(() => {
  gpu?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const PROMPT = 'The quick brown fox jumps over the lazy dog. Hello, world!';
const STEPS = 64;
const LOGITS_NMSE = 1e-4;

async function llamaCpp(path: string, vocabSize: number, steps: number) {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never' });
  const model = await llama.loadModel({ modelPath: path });
  try {
    const prompt = model.tokenize(PROMPT, false).map(Number);
    const ids =
      model.tokens.shouldPrependBosToken && model.tokens.bos !== null
        ? [Number(model.tokens.bos), ...prompt]
        : prompt;
    const context = await model.createContext({
      contextSize: 256,
      // f32 K/V and the plain attention path: llama.cpp's f16 cache rounds K and V.
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    try {
      // Greedy token by token, each argmax fed back: evaluate() would stop at an
      // end-of-generation token, and the check wants every step.
      const sequence = context.getSequence();
      const next = { token: true, options: { temperature: 0 } };
      const items = ids.map((t, i) =>
        i === ids.length - 1 ? ([t, { generateNext: { ...next, logits: true } }] as const) : t,
      );
      const first = (await sequence.controlledEvaluate(items as never))[ids.length - 1]!.next;
      const logits = new Float32Array(vocabSize);
      for (const [token, value] of first.logits ?? []) logits[Number(token)] = value;
      const tokens = [Number(first.token)];
      while (tokens.length < steps) {
        const item = [tokens[tokens.length - 1], { generateNext: next }];
        const [out] = await sequence.controlledEvaluate([item] as never);
        tokens.push(Number(out!.next.token));
      }
      return { prompt: ids, tokens, logits };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

async function ours(bytes: Uint8Array, steps: number) {
  const tokenizer = tokenizerFromGguf(parseGguf(bytes).metadata);
  const prompt = tokenizer.encode(PROMPT);
  const decoder = await Decoder.load(gpu, bytesSource(bytes), { contextSize: 256, maxBatch: 64 });
  try {
    await decoder.forward(prompt);
    const logits = await decoder.logits();
    const tokens = [await decoder.argmax()];
    while (tokens.length < steps) {
      await decoder.forward([tokens[tokens.length - 1]]);
      tokens.push(await decoder.argmax());
    }
    return { prompt, tokens, logits };
  } finally {
    decoder.destroy();
  }
}

/** (architecture, weights, layers): the float formats on two layers, everything asserted. */
const cases: [TinyArchitecture, QuantName, number][] = (
  ['llama', 'qwen2', 'qwen3'] as const
).flatMap((a) =>
  (['F32', 'F16'] as const).map((f): [TinyArchitecture, QuantName, number] => [a, f, 2]),
);

describe('greedy decoding matches llama.cpp', () => {
  for (const [architecture, weights, layers] of cases) {
    it(`${architecture} ${weights} (${layers} layers)`, async () => {
      const { bytes, vocab } = tinyModel({
        architecture,
        weights,
        layers,
        tiedEmbeddings: architecture === 'qwen3',
      });
      const path = join(dir, `${architecture}-${weights}.gguf`);
      writeFileSync(path, bytes);
      const reference = await llamaCpp(path, vocab.length, STEPS);
      const mine = await ours(bytes, STEPS);
      expect(mine.prompt).toEqual(reference.prompt);
      const logits = compareToReference(mine.logits, reference.logits, LOGITS_NMSE);
      console.log(
        `${architecture} ${weights}: logits NMSE ${logits.nmse.toExponential(2)}, ` +
          `max |err| ${logits.maxAbsError.toExponential(2)}, ` +
          `first differing step ${mine.tokens.findIndex((t, i) => t !== reference.tokens[i])}`,
      );
      expect(logits.nonFinite).toBe(0);
      expect(logits.nmse).toBeLessThanOrEqual(LOGITS_NMSE);
      expect(mine.tokens).toEqual(reference.tokens);
    });
  }
  // Open: with 8-bit matmul inputs, llama.cpp's CPU attention (its own exp, f64 softmax sums,
  // SIMD summation order) differs from ours by ~1e-7 relative, which is enough to flip a few
  // 8-bit roundings downstream; each flip moves the logits by ~1e-4 NMSE. Single tokens and
  // some prompts agree to 1e-14; others part by 6e-5..4e-4 and greedy tokens then diverge.
  it.todo(
    'quantized weights (Q8_0, Q4_0, Q4_K, Q6_K) on every architecture: 64 greedy tokens and ' +
      "logits NMSE <= 1e-4 against llama.cpp's CPU over multi-token prompts",
  );
});

// Inputs rounded as llama.cpp rounds them for 8-bit dot products (quant/dot-input.ts): on a
// one-layer llama, where llama.cpp's CPU takes its plain dot-product path, the logits agree to
// f32 rounding, where exact f32 inputs would be ~1e-4 away.
describe("matmul inputs rounded as llama.cpp's", () => {
  for (const weights of ['Q8_0', 'Q4_K'] as const) {
    it(`llama ${weights} (1 layer)`, async () => {
      const { bytes, vocab } = tinyModel({ architecture: 'llama', weights, layers: 1 });
      const path = join(dir, `llama-${weights}-1.gguf`);
      writeFileSync(path, bytes);
      const reference = await llamaCpp(path, vocab.length, 1);
      const mine = await ours(bytes, 1);
      const logits = compareToReference(mine.logits, reference.logits, 1e-9);
      console.log(`llama ${weights} (1 layer): logits NMSE ${logits.nmse.toExponential(2)}`);
      expect(logits.passed).toBe(true);
    });
  }
});
