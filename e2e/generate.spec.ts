import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type * as agentgpu from '../src/index.js';

// The same greedy generation in Node (the CLI on Dawn) and in Chromium inside the model-host
// Web Worker, which loads the model by URL with Range requests from the dev server and, the
// second time, from Cache Storage. The dev server's root is demo/: files elsewhere in the
// repository are served under /@fs/ by their absolute path.
const MODEL = 'dist-test/models/tiny-qwen2-q8_0.gguf';
const PROMPT = 'Once upon a time, the quick brown fox';
const MAX_TOKENS = 16;

let expected: { prompt_tokens: number[]; tokens: number[]; text: string };

test.beforeAll(() => {
  execFileSync(process.execPath, ['scripts/run-ts.mjs', 'scripts/test-models.ts'], {
    stdio: 'ignore',
  });
  const out = execFileSync(process.execPath, [
    'bin/agentgpu.js',
    'generate',
    '--model',
    MODEL,
    '--prompt',
    PROMPT,
    '--max-tokens',
    String(MAX_TOKENS),
    '--temperature',
    '0',
    '--json',
  ]);
  expected = JSON.parse(out.toString());
});

test('a generation in the worker gives the tokens Node gives, and reloads from the cache', async ({
  page,
}) => {
  test.setTimeout(240_000);
  const modelRequests: string[] = [];
  page.on('request', (request) => {
    if (request.url().endsWith('.gguf')) modelRequests.push(request.url());
  });
  await page.goto('/blank.html');
  const run = (url: string) =>
    page.evaluate(
      async ({ url, entry, prompt, maxTokens }) => {
        const { spawnModelHost } = (await import(entry)) as typeof agentgpu;
        const { host, terminate } = spawnModelHost();
        try {
          await host.init();
          const config = await host.loadModel(url, { contextSize: 256, maxBatch: 32 });
          const result = await host.generate(prompt, { temperature: 0, maxTokens });
          return { architecture: config.architecture, ...result };
        } finally {
          terminate();
        }
      },
      { url, entry: `/@fs${resolve('src/index.ts')}`, prompt: PROMPT, maxTokens: MAX_TOKENS },
    );
  const url = new URL(`/@fs${resolve(MODEL)}`, page.url()).href;
  const first = await run(url);
  expect(first.architecture).toBe('qwen2');
  expect(first.promptTokens).toEqual(expected.prompt_tokens);
  expect(first.tokens).toEqual(expected.tokens);
  expect(first.text).toBe(expected.text);
  expect(modelRequests.length).toBeGreaterThan(0);

  modelRequests.length = 0;
  const second = await run(url);
  expect(second.tokens).toEqual(expected.tokens);
  expect(modelRequests).toEqual([]);
});
