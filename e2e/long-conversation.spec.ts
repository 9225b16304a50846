import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type * as agentgpu from '../src/index.js';
import type * as memory from '../src/memory/index.js';
import { expectCoveredOnce } from './coverage.js';

// A long conversation with an agent that keeps it: MESSAGES messages (half the user's, half
// the agent's) through a 256-token KV window on a generated model. Every message stays in
// IndexedDB, the spans that left the window are summarized exactly once, and a fact planted
// early is found among the top 3.

// The 2,000 messages take ~17 min on SwiftShader here: the suite runs 100 (the same
// checks, ~1 min); AGENTGPU_LONG_MESSAGES=2000 runs the full length.
const MESSAGES = Number(process.env.AGENTGPU_LONG_MESSAGES ?? 100);
const LOG_EVERY = Number(process.env.AGENTGPU_LONG_LOG ?? 100);

test.beforeAll(() => {
  execFileSync(process.execPath, ['scripts/run-ts.mjs', 'scripts/test-models.ts'], {
    stdio: 'ignore',
  });
});

test(`a ${MESSAGES}-message conversation through a 256-token window`, async ({ page }) => {
  // ~1 s a turn on SwiftShader here, and room to spare.
  test.setTimeout(Math.max(900_000, MESSAGES * 2_000));
  page.on('console', (m) => m.text().startsWith('turn ') && console.log(m.text()));
  await page.goto('/blank.html');
  const out = await page.evaluate(
    async ({ entry, memoryEntry, model, db, turns, LOG_EVERY, debug }) => {
      const { createEngine } = (await import(entry)) as typeof agentgpu;
      const { MemoryStore } = (await import(memoryEntry)) as typeof memory;
      const store = await MemoryStore.open({ name: db });
      const engine = await createEngine({
        memory: store,
        models: [
          {
            id: 'm',
            source: model,
            options: { window: { window: 256, sinks: 4 }, maxBatch: 64, sequences: 4 },
          },
        ],
        agents: [
          {
            name: 'assistant',
            model: 'm',
            systemPrompt: 'Be brief.',
            keepsConversation: true,
            // Kept and summarized, not recalled: the test reads the store itself (by text).
            memory: {
              summarizer: 'summarizer',
              summaryTokens: 8,
              budgetTokens: 0,
              embeddings: false,
            },
          },
          { name: 'summarizer', model: 'm', role: 'background' },
        ],
      });
      const topics = ['weather', 'music', 'trains', 'cooking', 'chess', 'gardens', 'rivers'];
      const started = performance.now();
      let prefilled = 0;
      try {
        for (let i = 0; i < turns; i++) {
          const content =
            i === 7
              ? 'Remember this: my locker combination is 4812.'
              : `Note ${i} about ${topics[i % topics.length]} and ${topics[(i * 3) % topics.length]}.`;
          const reply = await engine.chat.completions.create({
            agent: 'assistant',
            messages: [{ role: 'user', content }],
            temperature: 0,
            max_tokens: 1,
          });
          if (i % LOG_EVERY === 0) {
            const s = await engine.telemetry.snapshot();
            const m = s.hosts[0].models[0];
            console.log(
              `turn ${i} at ${((performance.now() - started) / 1000).toFixed(0)} s: ` +
                `${m.scheduler.steps} steps, ${m.scheduler.prefillTokens} prefill, ` +
                `${m.scheduler.decodeTokens} decode tokens, ${m.kv.usedBlocks} blocks`,
            );
          }
          const usage = reply.usage;
          if (debug) {
            console.log(
              `turn ${i}: prompt ${usage.prompt_tokens} cached ${usage.prompt_tokens_details?.cached_tokens} reply ${JSON.stringify(reply.choices[0].message.content)} ${reply.choices[0].finish_reason}`,
            );
          }
          prefilled += usage.prompt_tokens - (usage.prompt_tokens_details?.cached_tokens ?? 0);
        }
        await engine.settled();
        const evicted = engine.audit
          .query({ kind: 'eviction', subject: 'model:m/agent:assistant' })
          .map((d) => d.inputs.range as [number, number]);
        const summaries = (await store.summaries('assistant')).map((s) => s.span);
        const episodes = await store.episodes('assistant');
        const hits = await store.search('assistant', 'What is my locker combination?', { k: 3 });
        return {
          seconds: (performance.now() - started) / 1000,
          prefilled,
          episodes: episodes.length,
          users: episodes.filter((e) => e.role === 'user').length,
          evicted,
          summaries,
          top3: hits.map((h) => h.text),
        };
      } finally {
        await engine.close();
        store.close();
      }
    },
    {
      entry: `/@fs${resolve('src/index.ts')}`,
      memoryEntry: `/@fs${resolve('src/memory/index.ts')}`,
      model: new URL(`/@fs${resolve('dist-test/models/tiny-qwen2-q8_0.gguf')}`, page.url()).href,
      db: `long-conversation-${Date.now()}`,
      turns: MESSAGES / 2,
      LOG_EVERY,
      debug: !!process.env.AGENTGPU_LONG_DEBUG,
    },
  );
  console.log(
    `${MESSAGES} messages in ${out.seconds.toFixed(0)} s, ${out.prefilled} tokens prefilled, ` +
      `${out.evicted.length} evictions in ${out.summaries.length} summaries`,
  );
  expect(out.episodes).toBe(MESSAGES);
  expect(out.users).toBe(MESSAGES / 2);
  expect(out.evicted.length).toBeGreaterThan(0);
  expectCoveredOnce(out.evicted, out.summaries);
  expect(out.top3).toContain('Remember this: my locker combination is 4812.');
});
