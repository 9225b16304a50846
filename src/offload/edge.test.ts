import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModel } from '../model/testing/tiny-model.js';
import type * as NodeEntry from '../node/index.js';
import { startServeProcess } from '../node/testing/serve-process.js';
import { PLANTED, PLANTED_TEXT } from './testing/planted.js';

// Offload against agentgpu's real edge server (the built dist/node; `npm run build` first):
// `auto` placement sends a long prompt to the server and keeps a short one local, with the
// reasons in the audit log; nothing planted reaches the server and the reply has it restored;
// 429 and 503 with Retry-After are waited out; a server killed mid-stream is finished by the
// local model with nothing shown twice or left out.

const entry = '../../dist/node/index.js';
let agentgpu: typeof NodeEntry;
const KEY = 'sk-edge-test-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'agentgpu-edge-'));
const { bytes } = tinyModel({
  architecture: 'qwen2',
  weights: 'Q8_0',
  layers: 2,
  seed: 41,
  contextLength: 2048,
});
const modelPath = join(dir, 'tiny.gguf');
const modelOptions = { contextSize: 1024, maxBatch: 64, sequences: 4 };

let cloudEngine: NodeEntry.Engine;
let edge: NodeEntry.EdgeServer;
let proxy: Server;
let proxyUrl: string;
/** Chat request bodies as the server received them (through the proxy). */
const captured: string[] = [];
/** The proxy prefixes this to the server's stream: a cloud model that quotes what it was sent. */
let quote: string | undefined;

beforeAll(async () => {
  writeFileSync(modelPath, bytes);
  agentgpu = (await import(/* @vite-ignore */ entry)) as typeof NodeEntry;
  cloudEngine = await agentgpu.createEngine({
    models: [{ id: 'tiny', source: bytes, options: modelOptions }],
  });
  edge = await agentgpu.serve({ engine: cloudEngine, port: 0, apiKey: KEY, queueLimit: 2 });
  // A pass-through proxy in front of the edge server: it records each body the server gets.
  proxy = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url?.endsWith('/chat/completions')) captured.push(body);
      const target = new URL(req.url!, edge.url);
      const forward = httpRequest(
        target,
        { method: req.method, headers: { ...req.headers, host: target.host } },
        (upstream) => {
          res.writeHead(upstream.statusCode!, upstream.headers);
          if (quote && upstream.statusCode === 200 && req.url?.endsWith('/chat/completions')) {
            const placeholders = [...body.matchAll(/\[[A-Z_]+_\d+\]/g)].map((m) => m[0]);
            const text = `${quote} ${[...new Set(placeholders)].join(' ')}`;
            res.write(
              `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })}\n\n`,
            );
          }
          upstream.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      forward.end(body);
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/v1`;
}, 240_000);

afterAll(async () => {
  await new Promise((r) => proxy?.close(r));
  await edge?.close();
  await cloudEngine?.close();
  rmSync(dir, { recursive: true, force: true });
});

const policy = (baseURL: string, extra: Record<string, unknown> = {}) => ({
  version: 1,
  cloud: { baseURL, model: 'tiny', retries: 4 },
  rules: { maxLocalPromptTokens: 200 },
  learn: false,
  ...extra,
});

async function device(
  baseURL: string,
  placement: 'auto' | 'cloud',
  extra: Record<string, unknown> = {},
): Promise<NodeEntry.Engine> {
  return agentgpu.createEngine({
    models: [{ id: 'tiny', source: bytes, options: modelOptions }],
    agents: [{ name: 'assistant', model: 'tiny', placement }],
    offload: { policy: policy(baseURL, extra), apiKey: async () => KEY },
  });
}

async function streamText(
  engine: NodeEntry.Engine,
  content: string,
  options: { max_tokens?: number; onPiece?: (soFar: string) => void } = {},
): Promise<{ text: string; id: string }> {
  const stream = await engine.chat.completions.create({
    agent: 'assistant',
    messages: [{ role: 'user', content }],
    temperature: 0,
    max_tokens: options.max_tokens ?? 8,
    stream: true,
  });
  let text = '';
  let id = '';
  for await (const c of stream) {
    id = c.id;
    text += c.choices[0]?.delta.content ?? '';
    options.onPiece?.(text);
  }
  return { text, id };
}

const placementOf = (engine: NodeEntry.Engine, id: string) =>
  engine.audit.query({ kind: 'placement', subject: `request:${id}` })[0];

describe('offload to the edge server', () => {
  let engine: NodeEntry.Engine;
  beforeAll(async () => {
    engine = await device(proxyUrl, 'auto');
  }, 240_000);
  afterAll(async () => {
    await engine?.close();
  });

  it('auto: a long prompt goes to the edge server, a short one stays local, and the audit says why', async () => {
    captured.length = 0;
    const short = await streamText(engine, 'Hello there');
    const long = await streamText(engine, 'Tell me about the weather. '.repeat(30));
    expect(placementOf(engine, short.id)).toMatchObject({
      decision: 'run locally (tiny)',
      reason: 'within every hard rule: local by default',
    });
    expect(placementOf(engine, long.id)).toMatchObject({
      decision: 'sent to cloud (tiny)',
      reason: expect.stringMatching(/^prompt \d{3} tokens > local budget 200$/),
    });
    expect(captured).toHaveLength(1);
    expect(captured[0]).toContain('Tell me about the weather.');
    expect(long.text.length).toBeGreaterThan(0);
  });

  it('nothing planted reaches the server, and the reply shown has it restored', async () => {
    captured.length = 0;
    quote = 'Noted:';
    try {
      const reply = await streamText(engine, `${PLANTED_TEXT} ${'Please keep these. '.repeat(20)}`);
      expect(captured).toHaveLength(1);
      for (const [name, value] of Object.entries(PLANTED)) {
        expect(captured[0], name).not.toContain(JSON.stringify(value).slice(1, -1));
      }
      expect(captured[0]).toContain('[EMAIL_1]');
      // The quoted placeholders came back as the values.
      expect(reply.text.startsWith('Noted: ')).toBe(true);
      for (const value of [PLANTED.email, PLANTED.card, PLANTED.iban, PLANTED.openaiKey]) {
        expect(reply.text).toContain(value);
      }
      expect(reply.text).not.toMatch(/\[(EMAIL|CARD|IBAN|API_KEY)_\d+\]/);
      const redaction = engine.audit
        .query({ kind: 'offload', subject: `request:${reply.id}` })
        .find((d) => d.decision.startsWith('replaced'));
      expect(redaction?.inputs.redacted).toMatchObject({ EMAIL: 1, CARD: 1, API_KEY: 3 });
    } finally {
      quote = undefined;
    }
  });

  it('waits out 429 and 503 with their Retry-After', async () => {
    // 503: the server drains for a moment.
    edge.drain(1);
    setTimeout(() => edge.resume(), 300);
    const drained = await streamText(engine, 'Describe the sea. '.repeat(30));
    const retries = engine.audit.query({ kind: 'offload', subject: `request:${drained.id}` });
    expect(retries[0]).toMatchObject({
      inputs: { type: 'retry', waitMs: 1000 },
      reason: expect.stringMatching(/answered 503/),
    });
    expect(drained.text.length).toBeGreaterThan(0);

    // 429: two direct requests fill the server's queue of 2.
    const fill = () =>
      fetch(`${edge.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'tiny',
          messages: [{ role: 'user', content: 'Fill the queue' }],
          max_tokens: 24,
          temperature: 0,
        }),
      }).then((r) => r.json());
    const fillers = [fill(), fill()];
    await new Promise((r) => setTimeout(r, 100));
    const limited = await streamText(engine, 'Describe the hills. '.repeat(30));
    await Promise.all(fillers);
    const waits = engine.audit.query({ kind: 'offload', subject: `request:${limited.id}` });
    expect(waits[0]).toMatchObject({
      inputs: { type: 'retry', waitMs: 1000 },
      reason: expect.stringMatching(/answered 429/),
    });
    expect(limited.text.length).toBeGreaterThan(0);
  });
});

describe('a cloud that dies mid-stream', () => {
  let child: ChildProcess;
  let engine: NodeEntry.Engine;
  let url: string;

  beforeAll(async () => {
    ({ url, child } = await startServeProcess([
      '--model',
      modelPath,
      '--id',
      'tiny',
      '--context-size',
      '1024',
    ]));
    engine = await device(url, 'cloud', { cloud: { baseURL: url, model: 'tiny', retries: 1 } });
  }, 240_000);
  afterAll(async () => {
    child?.kill('SIGKILL');
    await engine?.close();
  });

  it('the local model finishes the reply: nothing shown twice, nothing missing', async () => {
    const content = 'Once upon a time';
    let killedAt: string | undefined;
    const reply = await streamText(engine, content, {
      max_tokens: 40,
      onPiece: (soFar) => {
        if (killedAt === undefined && soFar.length >= 12) {
          killedAt = soFar;
          child.kill('SIGKILL');
        }
      },
    });
    expect(killedAt).toBeDefined();
    expect(placementOf(engine, reply.id).decision).toBe('sent to cloud (tiny)');
    const fallback = engine.audit
      .query({ kind: 'offload', subject: `request:${reply.id}` })
      .find((d) => d.inputs.to === 'local');
    expect(fallback?.decision).toMatch(
      /^finish on the local model, continuing after \d+ characters shown$/,
    );
    expect(fallback?.reason).toMatch(/^cloud failed: /);
    // The text shown when the cloud died (all of what arrived, at least what the kill saw)...
    const shown = reply.text.slice(0, fallback!.inputs.shownChars as number);
    expect(shown.startsWith(killedAt!)).toBe(true);
    // ...then exactly the local model's continuation of it, with the tokens it had left.
    const continuation = await engine.chat.completions.create({
      model: 'tiny',
      messages: [
        { role: 'user', content },
        { role: 'assistant', content: shown },
      ],
      continue_final_message: true,
      temperature: 0,
      max_tokens: 40 - (fallback!.inputs.shownTokens as number),
    });
    expect(reply.text).toBe(shown + continuation.choices[0].message.content);
  });
});
