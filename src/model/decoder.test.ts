import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { Decoder } from './decoder.js';
import { parseGguf } from './gguf/reader.js';
import type { QuantName } from './quant/index.js';
import { tinyModel, type TinyArchitecture } from './testing/tiny-model.js';
import { tokenizerFromGguf } from './tokenizer/index.js';
import { bytesSource } from './weights.js';

// The golden check: a generated model decoded greedily gives llama.cpp's tokens.

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
const STEPS = 16;

async function llamaCpp(path: string, steps: number) {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never' });
  const model = await llama.loadModel({ modelPath: path });
  try {
    const prompt = model.tokenize(PROMPT, false).map(Number);
    const ids =
      model.tokens.shouldPrependBosToken && model.tokens.bos !== null
        ? [Number(model.tokens.bos), ...prompt]
        : prompt;
    const context = await model.createContext({ contextSize: 256 });
    const out: number[] = [];
    for await (const t of context.getSequence().evaluate(ids as never, { temperature: 0 })) {
      out.push(Number(t));
      if (out.length === steps) break;
    }
    await context.dispose();
    return { prompt: ids, tokens: out };
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
    const tokens = [await decoder.argmax()];
    while (tokens.length < steps) {
      await decoder.forward([tokens[tokens.length - 1]]);
      tokens.push(await decoder.argmax());
    }
    return { prompt, tokens };
  } finally {
    decoder.destroy();
  }
}

const cases: [TinyArchitecture, QuantName][] = [
  ['llama', 'F32'],
  ['qwen2', 'F32'],
  ['qwen3', 'F32'],
];

describe('greedy decoding matches llama.cpp', () => {
  for (const [architecture, weights] of cases) {
    it(`${architecture} ${weights}`, async () => {
      const { bytes } = tinyModel({
        architecture,
        weights,
        tiedEmbeddings: architecture === 'qwen3',
      });
      const path = join(dir, `${architecture}-${weights}.gguf`);
      writeFileSync(path, bytes);
      const reference = await llamaCpp(path, STEPS);
      const mine = await ours(bytes, STEPS);
      expect(mine.prompt).toEqual(reference.prompt);
      expect(mine.tokens).toEqual(reference.tokens);
    });
  }
});
