import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type * as agentgpu from '../src/index.js';
import type * as memory from '../src/memory/index.js';
import { embedReference, tinyEmbedder } from '../src/memory/testing/tiny-embedder.js';

// Memory retrieval with a sentence-embedding ONNX model in Chromium: loaded by URL into its own
// worker, run by onnxruntime-web (WebGPU on SwiftShader here), its vectors equal to the CPU
// reference's, kept beside the agent's messages and used to find what the words alone miss.

test.beforeAll(() => {
  execFileSync(process.execPath, ['scripts/run-ts.mjs', 'scripts/test-models.ts'], {
    stdio: 'ignore',
  });
});

test('an ONNX embedder in a worker feeds hybrid retrieval', async ({ page }) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/blank.html');
  const texts = ['Remember this: my locker combination is 4812.', 'the zebra grazed by the river'];
  const out = await page.evaluate(
    async ({ entry, memoryEntry, model, onnx, tokenizer, db, texts }) => {
      const { createEngine } = (await import(entry)) as typeof agentgpu;
      const { MemoryStore, loadEmbedder } = (await import(memoryEntry)) as typeof memory;
      const embedder = await loadEmbedder({ model: onnx, tokenizer });
      const vectors = (await embedder.embed(texts)).map((v) => Array.from(v));
      const store = await MemoryStore.open({ name: db });
      const engine = await createEngine({
        memory: store,
        embedder,
        models: [{ id: 'm', source: model, options: { maxBatch: 32 } }],
        agents: [
          {
            name: 'assistant',
            model: 'm',
            memory: { budgetTokens: 200, k: 2 },
          },
        ],
      });
      try {
        const ask = (content: string) =>
          engine.chat.completions.create({
            agent: 'assistant',
            messages: [{ role: 'user', content }],
            temperature: 0,
            max_tokens: 4,
          });
        for (const t of texts) await ask(t);
        await engine.settled();
        // A misspelling no word of memory matches: only the vectors can find it.
        const reply = await ask('zebbra grazzing?');
        const recall = engine.audit.query({ kind: 'memory', subject: `request:${reply.id}` })[0];
        return {
          backend: embedder.backend,
          id: embedder.id,
          vectors,
          stored: (await store.export('assistant')).embeddings.map((e) => e.model),
          recalled: reply.agentgpu!.memory!.text,
          why: recall.reason,
          embedding: recall.inputs.embedding,
        };
      } finally {
        await engine.close();
        store.close();
        embedder.close();
      }
    },
    {
      entry: `/@fs${resolve('src/index.ts')}`,
      memoryEntry: `/@fs${resolve('src/memory/index.ts')}`,
      model: new URL(`/@fs${resolve('dist-test/models/tiny-qwen2-q8_0.gguf')}`, page.url()).href,
      onnx: new URL(`/@fs${resolve('dist-test/models/tiny-embedder.onnx')}`, page.url()).href,
      tokenizer: new URL(
        `/@fs${resolve('dist-test/models/tiny-embedder.tokenizer.json')}`,
        page.url(),
      ).href,
      db: `embeddings-${Date.now()}`,
      texts,
    },
  );
  console.log(`embedder backend: ${out.backend}; recall: ${out.why}`);
  expect(['webgpu', 'wasm']).toContain(out.backend);
  // The same vectors as the CPU reference on the same weights (the model the script wrote).
  const tiny = tinyEmbedder({ seed: 1 });
  expect(Buffer.from(tiny.model)).toEqual(readFileSync('dist-test/models/tiny-embedder.onnx'));
  const tokenizer = new Tokenizer(tiny.tokenizer, {});
  texts.forEach((text, i) => {
    const want = embedReference(tiny, tokenizer.encode(text).ids);
    const worst = Math.max(...out.vectors[i].map((v, j) => Math.abs(v - want[j])));
    expect(worst, text).toBeLessThan(1e-4);
  });
  // Every kept message has its vector, by the ONNX model's id.
  expect(out.stored.length).toBeGreaterThanOrEqual(4);
  expect(new Set(out.stored)).toEqual(new Set([out.id]));
  expect(out.embedding).toBe(out.id);
  // The zebra message comes first in the prompt, chosen by similarity alone.
  expect(out.recalled).toContain(texts[1]);
  expect(out.recalled.indexOf(texts[1])).toBeLessThan(
    out.recalled.includes(texts[0]) ? out.recalled.indexOf(texts[0]) : Infinity,
  );
  expect(out.why).toMatch(/^episode #\d+: similarity 0\.\d\d/);
  expect(errors).toEqual([]);
});
