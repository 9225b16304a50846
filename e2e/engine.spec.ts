import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type * as agentgpu from '../src/index.js';

// The coordinator in Chromium: three agents over two generated models in two model-host Web
// Workers, a task graph whose independent steps overlap, tokens streamed to the page, a
// cancelled request whose KV blocks come back, and hosts stopped mid-generation (terminated,
// device destroyed) that the engine restarts, reloading their models from Cache Storage.

test.beforeAll(() => {
  execFileSync(process.execPath, ['scripts/run-ts.mjs', 'scripts/test-models.ts'], {
    stdio: 'ignore',
  });
});

test('agents in two host workers: task graph, streaming, cancel, restarts', async ({ page }) => {
  test.setTimeout(300_000);
  const modelRequests: string[] = [];
  page.on('request', (request) => {
    if (request.url().endsWith('.gguf')) modelRequests.push(request.url());
  });
  await page.goto('/blank.html');
  const model = (name: string) =>
    new URL(`/@fs${resolve(`dist-test/models/${name}.gguf`)}`, page.url()).href;
  const out = await page.evaluate(
    async ({ entry, chat, work }) => {
      const { createEngine } = (await import(entry)) as typeof agentgpu;
      const engine = await createEngine({
        models: [
          { id: 'chat', source: chat, options: { contextSize: 256, maxBatch: 64 } },
          { id: 'work', source: work, options: { contextSize: 256, maxBatch: 64 } },
        ],
        agents: [
          { name: 'router', model: 'chat', systemPrompt: 'Route the request.' },
          { name: 'worker', model: 'work', systemPrompt: 'Do the work.' },
          { name: 'summarizer', model: 'chat', role: 'background', systemPrompt: 'Summarize.' },
        ],
      });
      const w = window as unknown as { engine: typeof engine; fetchedAfterLoad: number };
      w.engine = engine;
      try {
        // A task graph: route and work are independent, the summary needs both.
        const graph = await engine.run({
          steps: [
            { id: 'route', agent: 'router', prompt: 'Plan a trip', maxTokens: 10, temperature: 0 },
            { id: 'work', agent: 'worker', prompt: 'Pack bags', maxTokens: 10, temperature: 0 },
            {
              id: 'sum',
              agent: 'summarizer',
              prompt: '{{route}} / {{work}}',
              dependsOn: ['route', 'work'],
              maxTokens: 4,
              temperature: 0,
            },
          ],
        });
        const events = engine.telemetry.events();
        const span = (id: string) => {
          const of = events.filter((e) => e.type === 'request' && e.requestId === id);
          return {
            started: of.find((e) => e.type === 'request' && e.phase === 'started')!.at,
            finished: of.find((e) => e.type === 'request' && e.phase === 'finished')!.at,
          };
        };
        const route = span(graph.route.completion.id);
        const work = span(graph.work.completion.id);

        // Tokens stream to the page as chunks.
        const stream = await engine.chat.completions.create({
          agent: 'router',
          messages: [{ role: 'user', content: 'Hello there' }],
          temperature: 0,
          max_tokens: 12,
          stream: true,
        });
        const chunkTimes: number[] = [];
        let streamed = '';
        for await (const chunk of stream) {
          chunkTimes.push(performance.now());
          streamed += chunk.choices[0]?.delta.content ?? '';
        }

        // A cancelled request frees its KV blocks.
        const usedBlocks = async () => {
          const snapshot = await engine.telemetry.snapshot();
          return snapshot.hosts.find((h) => h.name === 'work')!.models[0].kv.usedBlocks;
        };
        const idle = await usedBlocks();
        const controller = new AbortController();
        const long = await engine.chat.completions.create(
          {
            model: 'work',
            messages: [{ role: 'user', content: 'Tell a long story. '.repeat(6) }],
            temperature: 0,
            max_tokens: 200,
            stream: true,
          },
          { signal: controller.signal },
        );
        let during = 0;
        let cancelError = '';
        try {
          let n = 0;
          for await (const chunk of long) {
            void chunk;
            if (++n === 4) {
              during = await usedBlocks();
              controller.abort();
            }
          }
        } catch (error) {
          cancelError = String((error as Error).name);
        }
        let after = await usedBlocks();
        for (let i = 0; i < 50 && after > idle; i++) {
          await new Promise((r) => setTimeout(r, 100));
          after = await usedBlocks();
        }

        // Hosts stopped mid-generation: terminated, then its device destroyed.
        const failures: { how: string; error: string; name: string }[] = [];
        for (const how of ['terminate', 'device'] as const) {
          const s = await engine.chat.completions.create({
            agent: 'router',
            messages: [{ role: 'user', content: 'Count to a hundred.' }],
            temperature: 0,
            max_tokens: 200,
            stream: true,
          });
          try {
            let n = 0;
            for await (const chunk of s) {
              void chunk;
              if (++n === 3) {
                if (how === 'terminate') engine.debug.terminateHost('chat');
                else await engine.debug.crashHost('chat', 'device');
              }
            }
            failures.push({ how, error: 'none', name: '' });
          } catch (error) {
            failures.push({ how, error: (error as Error).message, name: (error as Error).name });
          }
        }
        const again = await engine.chat.completions.create({
          agent: 'router',
          messages: [{ role: 'user', content: 'Still there?' }],
          temperature: 0,
          max_tokens: 4,
        });
        const snapshot = await engine.telemetry.snapshot();
        return {
          route,
          work,
          sumStarted: graph.sum.startedAt,
          depsFinished: Math.max(graph.route.finishedAt, graph.work.finishedAt),
          chunks: chunkTimes.length,
          streamed,
          idle,
          during,
          after,
          cancelError,
          failures,
          againTokens: again.usage.completion_tokens,
          restarts: engine.audit
            .query({ kind: 'restart', subject: 'host:chat' })
            .map((d) => d.reason),
          chatHost: snapshot.hosts.find((h) => h.name === 'chat'),
        };
      } finally {
        await engine.close();
      }
    },
    {
      entry: `/@fs${resolve('src/index.ts')}`,
      chat: model('tiny-qwen2-q8_0'),
      work: model('tiny-llama-q4_k'),
    },
  );
  // The two independent steps ran at the same time, in two hosts.
  expect(out.route.started).toBeLessThan(out.work.finished);
  expect(out.work.started).toBeLessThan(out.route.finished);
  expect(out.sumStarted).toBeGreaterThanOrEqual(out.depsFinished);
  // Tokens came as several chunks.
  expect(out.chunks).toBeGreaterThan(3);
  expect(out.streamed.length).toBeGreaterThan(0);
  // The cancelled request held blocks, and gave them back.
  expect(out.cancelError).toBe('AbortError');
  expect(out.during).toBeGreaterThan(out.idle);
  expect(out.after).toBe(out.idle);
  // Each stopped host failed its request clearly and came back.
  for (const f of out.failures) {
    expect(f.name).toBe('HostRestartedError');
    expect(f.error).toMatch(/host worker "chat" stopped .*send it again/);
  }
  expect(out.restarts).toHaveLength(2);
  expect(out.restarts[0]).toMatch(/terminated by debug.terminateHost/);
  expect(out.restarts[1]).toMatch(/GPU device was lost/);
  expect(out.againTokens).toBeGreaterThan(0);
  expect(out.chatHost).toMatchObject({ state: 'ready', restarts: 2 });
  // Two models fetched once each; the restarts reloaded from Cache Storage.
  expect(new Set(modelRequests).size).toBe(2);
});
