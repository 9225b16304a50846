import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGguf } from '../gguf/reader.js';
import { learnBpe } from './bpe-vocab.js';
import { tinyModel, type TinyArchitecture } from './tiny-model.js';

const dir = mkdtempSync(join(tmpdir(), 'agentgpu-tiny-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('generated test models', () => {
  it('learn the same BPE merges every time', () => {
    const a = learnBpe(400);
    expect(learnBpe(400)).toEqual(a);
    expect(a.tokens.slice(0, 256)).toHaveLength(256);
    expect(new Set(a.tokens).size).toBe(a.tokens.length);
    expect(a.merges.length).toBeGreaterThan(50);
  });

  it('are the same bytes for the same seed', () => {
    const a = tinyModel({ architecture: 'qwen2', weights: 'Q4_K', seed: 9 }).bytes;
    expect(tinyModel({ architecture: 'qwen2', weights: 'Q4_K', seed: 9 }).bytes).toEqual(a);
    expect(tinyModel({ architecture: 'qwen2', weights: 'Q4_K', seed: 10 }).bytes).not.toEqual(a);
  });

  for (const architecture of ['llama', 'qwen2', 'qwen3'] as TinyArchitecture[]) {
    it(`${architecture}: llama.cpp loads it, tokenizes and generates`, async () => {
      const { bytes, vocab } = tinyModel({
        architecture,
        weights: 'Q8_0',
        tiedEmbeddings: architecture === 'qwen3',
      });
      const file = parseGguf(bytes);
      expect(file.metadata.get('general.architecture')).toBe(architecture);
      expect(file.tensors.some((t) => t.name === 'output.weight')).toBe(architecture !== 'qwen3');
      const path = join(dir, `${architecture}.gguf`);
      writeFileSync(path, bytes);
      const { getLlama } = await import('node-llama-cpp');
      const llama = await getLlama({ gpu: false, build: 'never' });
      const model = await llama.loadModel({ modelPath: path });
      try {
        expect(model.tokens.bos === null ? -1 : Number(model.tokens.bos)).toBeGreaterThanOrEqual(0);
        const ids = model.tokenize('Hello, world! The quick brown fox.');
        expect(ids.length).toBeGreaterThan(3);
        expect(ids.every((id) => Number(id) < vocab.length)).toBe(true);
        const context = await model.createContext({ contextSize: 128, threads: 1 });
        const generated: number[] = [];
        for await (const token of context.getSequence().evaluate(ids, { temperature: 0 })) {
          generated.push(Number(token));
          if (generated.length === 4) break;
        }
        expect(generated).toHaveLength(4);
        await context.dispose();
      } finally {
        await model.dispose();
      }
    });
  }
});
