import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type * as agentgpu from '../src/index.js';
import type * as memory from '../src/memory/index.js';
import { expectCoveredOnce } from './coverage.js';

// Agents with long-term memory in Chromium: a conversation in one page session is remembered
// after a reload and shapes the next prompt (which says what it recalled and why); spans that
// leave a small KV window are summarized into IndexedDB, each exactly once, while every raw
// message stays in the episode store.

test.beforeAll(() => {
  execFileSync(process.execPath, ['scripts/run-ts.mjs', 'scripts/test-models.ts'], {
    stdio: 'ignore',
  });
});

test('memory outlives the page and the KV window', async ({ page }) => {
  test.setTimeout(240_000);
  await page.goto('/blank.html');
  const db = `agent-memory-${Date.now()}`;
  const args = {
    entry: `/@fs${resolve('src/index.ts')}`,
    memoryEntry: `/@fs${resolve('src/memory/index.ts')}`,
    model: new URL(`/@fs${resolve('dist-test/models/tiny-qwen2-q8_0.gguf')}`, page.url()).href,
    db,
  };
  const session = (first: boolean) =>
    page.evaluate(
      async ({ entry, memoryEntry, model, db, first }) => {
        const { createEngine } = (await import(entry)) as typeof agentgpu;
        const { MemoryStore } = (await import(memoryEntry)) as typeof memory;
        const store = await MemoryStore.open({ name: db });
        const engine = await createEngine({
          memory: store,
          models: [
            {
              id: 'm',
              source: model,
              // A 48-token KV window: long conversations overflow it at once.
              options: { window: { window: 32, sinks: 4 }, maxBatch: 32 },
            },
          ],
          agents: [
            {
              name: 'assistant',
              model: 'm',
              systemPrompt: 'You are helpful.',
              memory: { summarizer: 'summarizer', budgetTokens: 200, summaryTokens: 16 },
            },
            { name: 'summarizer', model: 'm', role: 'background' },
          ],
        });
        try {
          const ask = (content: string) =>
            engine.chat.completions.create({
              agent: 'assistant',
              messages: [{ role: 'user', content }],
              temperature: 0,
              max_tokens: 24,
            });
          if (first) {
            await store.addFact('assistant', 'The user has a dog called Biscuit.', {
              kind: 'user',
            });
            await ask('Hello! I have a dog called Biscuit and a cat called Pepper.');
            await engine.settled();
            const evicted = engine.audit
              .query({ kind: 'eviction', subject: 'model:m/agent:assistant' })
              .map((d) => d.inputs.range as [number, number]);
            const summaries = (await store.summaries('assistant')).map((s) => s.span);
            return { evicted, summaries, episodes: (await store.episodes('assistant')).length };
          }
          const reply = await ask('What is the name of my dog?');
          const recall = engine.audit.query({ kind: 'memory', subject: `request:${reply.id}` })[0];
          return {
            memory: reply.agentgpu!.memory,
            recall: recall.reason,
            embedding: recall.inputs.embedding,
            vectors: (await store.export('assistant')).embeddings.map((e) => e.model),
          };
        } finally {
          await engine.close();
          store.close();
        }
      },
      { ...args, first },
    );
  const before = await session(true);
  // Both messages of the exchange are kept.
  expect(before.episodes).toBe(2);
  // The conversation overflowed the window; each evicted span has exactly one summary.
  expect(before.evicted!.length).toBeGreaterThan(0);
  expectCoveredOnce(before.evicted!, before.summaries!);

  await page.reload();
  const after = await session(false);
  // The next prompt carries what was remembered, and says why.
  expect(after.memory!.text).toMatch(/^Relevant memory \(\d+ of \d+ retrieved\):/);
  expect(after.memory!.text).toContain('The user has a dog called Biscuit.');
  expect(after.memory!.text).toMatch(/matched "dog"/);
  expect(after.recall).toMatch(/fact #\d+: matched "dog"/);
  // With no embedding model configured, vectors come from the agent's own model: the query's,
  // and the kept messages' and summaries' (from the first page session).
  expect(after.embedding).toBe('model:m');
  expect(after.vectors!.length).toBeGreaterThanOrEqual(before.episodes!);
  expect(new Set(after.vectors)).toEqual(new Set(['model:m']));
});
