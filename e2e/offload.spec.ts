import { expect, test } from '@playwright/test';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type * as agentgpu from '../src/index.js';
import { demoPort } from '../playwright.config.js';
import { startServeProcess } from '../src/node/testing/serve-process.js';

// Edge-to-cloud offload in Chromium: agentgpu's edge server (started here, as the cloud) and a
// page engine whose agent is placed `auto`: a long prompt goes to the server, a short one to the
// in-browser worker, and the audit log says why each went where. What the bandit learned and
// the day's cloud spending are in IndexedDB afterwards.

const KEY = 'sk-e2e-offload-0123456789';
let server: ChildProcess;
/** The server's API root as it prints it (…/v1). */
let url: string;

test.beforeAll(async () => {
  execFileSync(process.execPath, ['scripts/run-ts.mjs', 'scripts/test-models.ts'], {
    stdio: 'ignore',
  });
  ({ url, child: server } = await startServeProcess([
    // The pages calling it: the dev server's (the tests) and the built demo's.
    '--allow-origin',
    `http://127.0.0.1:${demoPort - 1}`,
    '--allow-origin',
    `http://127.0.0.1:${demoPort}`,
    '--model',
    'dist-test/models/tiny-qwen2-q8_0.gguf',
    '--id',
    'tiny',
    '--api-key',
    KEY,
  ]));
});

test.afterAll(() => {
  server?.kill();
});

test('auto placement: long prompts to the edge server, short ones in the page', async ({
  page,
}) => {
  test.setTimeout(240_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto('/blank.html');
  const out = await page.evaluate(
    async ({ entry, model, baseURL, key }) => {
      const { createEngine } = (await import(entry)) as typeof agentgpu;
      const engine = await createEngine({
        models: [{ id: 'tiny', source: model, options: { contextSize: 1024, maxBatch: 64 } }],
        agents: [{ name: 'assistant', model: 'tiny', placement: 'auto' }],
        offload: {
          policy: {
            version: 1,
            cloud: { baseURL, model: 'tiny' },
            rules: { maxLocalPromptTokens: 120 },
          },
          apiKey: async () => key,
        },
      });
      try {
        const ask = async (content: string) => {
          const stream = await engine.chat.completions.create({
            agent: 'assistant',
            messages: [{ role: 'user', content }],
            temperature: 0,
            max_tokens: 6,
            stream: true,
          });
          let text = '';
          let id = '';
          for await (const c of stream) {
            id = c.id;
            text += c.choices[0]?.delta.content ?? '';
          }
          const placed = engine.audit.query({ kind: 'placement', subject: `request:${id}` })[0];
          return {
            text,
            decision: placed.decision,
            reason: placed.reason,
            rule: placed.inputs.rule,
          };
        };
        const short = await ask('Hello there');
        const long = await ask('Tell me about rivers. '.repeat(14));
        await new Promise((r) => setTimeout(r, 200));
        const state = await new Promise<unknown>((done, fail) => {
          const open = indexedDB.open('agentgpu-offload');
          open.onerror = () => fail(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('state').objectStore('state').get('bandit');
            get.onsuccess = () => done(get.result);
          };
        });
        const offload = engine.audit.query({ kind: 'offload' }).map((d) => d.decision);
        return { short, long, state, offload };
      } finally {
        await engine.close();
      }
    },
    {
      entry: `/@fs${resolve('src/index.ts')}`,
      model: new URL(`/@fs${resolve('dist-test/models/tiny-qwen2-q8_0.gguf')}`, page.url()).href,
      baseURL: url,
      key: KEY,
    },
  );
  console.log(`short: ${out.short.decision} (${out.short.reason})`);
  console.log(`long: ${out.long.decision} (${out.long.reason})`);
  expect(out.short.decision).toBe('run locally (tiny)');
  expect(out.short.rule).toBe('bandit');
  expect(out.long.decision).toBe('sent to cloud (tiny)');
  expect(out.long.reason).toMatch(/^prompt \d{3,} tokens > local budget 120$/);
  expect(out.long.text.length).toBeGreaterThan(0);
  // The server answered it: no retry, no fallback.
  expect(out.offload).toEqual([]);
  const state = out.state as {
    arms: { local: { n: number } };
    spent: { tokens: number };
  };
  expect(state.arms.local.n).toBeGreaterThanOrEqual(1);
  expect(state.spent.tokens).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});
