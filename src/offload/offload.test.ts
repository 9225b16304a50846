import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CircuitOpenError, IncompleteStreamError, OffloadError } from '../errors.js';
import { LinUcbBandit, freshState, memoryStateStore, reward } from './bandit.js';
import { Offloader } from './offloader.js';
import { OpenAICompatibleClient, retryAfterMs, type EndpointEvent } from './client.js';
import { decidePlacement, type PlacementInput } from './placement.js';
import { PolicyError, parseOffloadPolicy, type OffloadPolicy } from './policy.js';

// The offload layer without a GPU: the policy's schema and its errors, the placement rules in
// order, the bandit, and the client's retries, Retry-After, breaker and stream checks against
// small HTTP servers that misbehave on purpose. (Against the real edge server: edge.test.ts.)

describe('offload policy', () => {
  it('accepts a full policy and names every bad field', () => {
    const good = parseOffloadPolicy(
      JSON.stringify({
        version: 1,
        cloud: { baseURL: 'https://api.example.com/v1', model: 'gpt-4o-mini', retries: 2 },
        rules: { maxLocalPromptTokens: 2048, latencyBudgetMs: 8000, minBatteryLevel: 0.2 },
        budget: { tokensPerDay: 100000, usdPerDay: 1 },
        fallback: { cloudToLocal: true },
        redact: true,
      }),
    );
    expect(good.rules?.maxLocalPromptTokens).toBe(2048);
    let error: PolicyError | undefined;
    try {
      parseOffloadPolicy({
        version: 2,
        cloud: { baseURL: 'https://user:pw@example.com/v1' },
        rules: { maxLocalPromptTokens: 0, minBatteryLevel: 3, latencyBudget: 5 },
        budget: { usdPerDay: -1 },
        fallback: { cloudToLocal: 'yes' },
      });
    } catch (e) {
      error = e as PolicyError;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect(error!.problems).toEqual(
      expect.arrayContaining([
        '/version: must be 1',
        '/cloud/model: is required',
        '/cloud/baseURL: must be an http(s) URL without credentials',
        '/rules/maxLocalPromptTokens: must be >= 1',
        '/rules/minBatteryLevel: must be <= 1',
        '/rules/latencyBudget: is not a policy field',
        '/budget/usdPerDay: must be >= 0',
        '/fallback/cloudToLocal: must be boolean',
      ]),
    );
    expect(() => parseOffloadPolicy('{ nope')).toThrow(/not JSON/);
  });
});

describe('placement', () => {
  const policy: OffloadPolicy = {
    version: 1,
    cloud: { baseURL: 'http://x/v1', model: 'm' },
    rules: {
      maxLocalPromptTokens: 2048,
      latencyBudgetMs: 10_000,
      maxLocalQueue: 4,
      minBatteryLevel: 0.2,
    },
    budget: { tokensPerDay: 1000 },
  };
  const base: PlacementInput = {
    placement: 'auto',
    private: false,
    promptTokens: 100,
    maxTokens: 64,
    local: { prefillTokensPerSecond: 500, decodeTokensPerSecond: 20, queue: 0, f16: true },
    spent: { tokens: 0, usd: 0 },
  };
  const at = (input: Partial<PlacementInput>) => decidePlacement(policy, { ...base, ...input });

  it('applies the hard rules in order, each with its reason', () => {
    expect(at({ placement: 'local' })).toMatchObject({ target: 'local', rule: 'placement' });
    expect(at({ private: true, promptTokens: 9000 })).toMatchObject({
      target: 'local',
      rule: 'private',
    });
    expect(at({ promptTokens: 6200 })).toMatchObject({
      target: 'cloud',
      rule: 'maxLocalPromptTokens',
      reason: 'prompt 6,200 tokens > local budget 2,048',
    });
    expect(at({ battery: { level: 0.1, charging: false } })).toMatchObject({
      target: 'cloud',
      rule: 'minBatteryLevel',
    });
    expect(at({ battery: { level: 0.1, charging: true } }).target).toBe('local');
    expect(at({ local: { ...base.local, queue: 9 } })).toMatchObject({ rule: 'maxLocalQueue' });
    expect(at({ maxTokens: 400 })).toMatchObject({
      target: 'cloud',
      rule: 'latencyBudgetMs',
    });
    expect(at({ localProblem: 'no WebGPU adapter' })).toMatchObject({
      target: 'cloud',
      reason: 'no WebGPU adapter',
    });
    expect(at({ promptTokens: 6200, spent: { tokens: 1000, usd: 0 } })).toMatchObject({
      target: 'local',
      rule: 'budget',
    });
    expect(at({ promptTokens: 6200, cloudProblem: 'breaker open' })).toMatchObject({
      target: 'local',
      rule: 'cloud-unavailable',
    });
    expect(at({ deviceMemoryGB: 2 })).toMatchObject({ target: 'local' });
    expect(
      decidePlacement(
        { ...policy, rules: { minDeviceMemoryGB: 4 } },
        { ...base, deviceMemoryGB: 2 },
      ),
    ).toMatchObject({
      target: 'cloud',
      rule: 'minDeviceMemoryGB',
      reason: 'the device reports 2 GB of memory < 4 GB',
    });
    expect(at({})).toMatchObject({ target: 'local', rule: 'default' });
  });

  it('learns ratings and persists what it learned', async () => {
    const state = memoryStateStore();
    const offloader = await Offloader.create({
      policy: { version: 1, cloud: { baseURL: 'http://127.0.0.1:9/v1', model: 'm' } },
      state,
    });
    const decision = offloader.decide(base);
    expect(decision.rule).toBe('bandit');
    await offloader.rate(decision, 'local', 1);
    await offloader.record(decision, 'cloud', { latencyMs: 500, error: false, usd: 0.002 }, 300);
    const again = await Offloader.create({ policy: { version: 1 }, state });
    expect(again.bandit.state.arms.local.n).toBe(1);
    expect(again.bandit.state.arms.cloud.n).toBe(1);
    expect(again.bandit.spent()).toEqual({ tokens: 300, usd: 0.002 });
    expect(again.cloudProblem()).toBe('the policy names no cloud endpoint');
  });

  it('leaves the open cases to a bandit that learns from outcomes', () => {
    const bandit = new LinUcbBandit(freshState(4));
    const first = decidePlacement(policy, base, bandit);
    expect(first.rule).toBe('bandit');
    expect(first.target).toBe('local');
    // Local keeps being slow and erring here; the cloud is quick: the bandit moves.
    for (let i = 0; i < 20; i++) {
      bandit.update(
        'local',
        first.context!,
        reward({ latencyMs: 30_000, error: true, usd: 0 }, 10_000),
      );
      bandit.update(
        'cloud',
        first.context!,
        reward({ latencyMs: 800, error: false, usd: 0.0001 }, 10_000),
      );
    }
    const later = decidePlacement(policy, base, bandit);
    expect(later.target).toBe('cloud');
    expect(later.reason).toMatch(/learned outcomes favour cloud/);
    bandit.spend(500, 0.01);
    expect(bandit.spent()).toEqual({ tokens: 500, usd: 0.01 });
  });
});

// Misbehaving servers for the client.
let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

async function misbehaving(
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
): Promise<{ url: string; calls: () => number; bodies: unknown[] }> {
  let n = 0;
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body ? JSON.parse(body) : undefined);
      handler(req, res, n++);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    calls: () => n,
    bodies,
  };
}

const chunk = (content: string, finish: string | null = null) =>
  `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;

const params = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };

describe('OpenAICompatibleClient', () => {
  it('retries 5xx and 429 with backoff, honouring Retry-After', async () => {
    const s = await misbehaving((_req, res, n) => {
      if (n === 0) res.writeHead(503, { 'retry-after': '0.2' }).end('{"error":{"message":"busy"}}');
      else if (n === 1) res.writeHead(429).end('{"error":{"message":"slow down"}}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices":[]}');
    });
    const events: EndpointEvent[] = [];
    const client = new OpenAICompatibleClient({
      baseURL: s.url,
      backoff: { baseMs: 10, maxMs: 50 },
      random: () => 1,
    });
    const started = Date.now();
    await client.chatCompletion(params, { onEvent: (e) => events.push(e) });
    expect(s.calls()).toBe(3);
    expect(events.map((e) => e.type === 'retry' && e.waitMs)).toEqual([200, 20]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('does not retry a 400, and refuses a Retry-After beyond its bound', async () => {
    const bad = await misbehaving((_req, res) =>
      res.writeHead(400).end('{"error":{"message":"bad model","code":"model_not_found"}}'),
    );
    const client = new OpenAICompatibleClient({ baseURL: bad.url });
    await expect(client.chatCompletion(params)).rejects.toMatchObject({
      status: 400,
      code: 'model_not_found',
      retryable: false,
    });
    expect(bad.calls()).toBe(1);
    const late = await misbehaving((_req, res) =>
      res.writeHead(429, { 'retry-after': '3600' }).end(),
    );
    const c2 = new OpenAICompatibleClient({ baseURL: late.url });
    await expect(c2.chatCompletion(params)).rejects.toThrow(/Retry-After 3600 s is longer/);
  });

  it('opens its circuit breaker after repeated failures, and half-opens after the cooldown', async () => {
    const s = await misbehaving((_req, res) => res.writeHead(500).end());
    const client = new OpenAICompatibleClient({
      baseURL: s.url,
      retries: 0,
      breaker: { failures: 2, cooldownMs: 150 },
    });
    await expect(client.chatCompletion(params)).rejects.toBeInstanceOf(OffloadError);
    await expect(client.chatCompletion(params)).rejects.toBeInstanceOf(OffloadError);
    await expect(client.chatCompletion(params)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(s.calls()).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    await expect(client.chatCompletion(params)).rejects.not.toBeInstanceOf(CircuitOpenError);
    expect(s.calls()).toBe(3);
  });

  it('times out a silent endpoint, and an AbortSignal cancels at once', async () => {
    const s = await misbehaving(() => {});
    const client = new OpenAICompatibleClient({ baseURL: s.url, timeoutMs: 100, retries: 1 });
    await expect(client.chatCompletion(params)).rejects.toThrow(/did not answer within 100 ms/);
    expect(s.calls()).toBe(2);
    const controller = new AbortController();
    const pending = client.chatCompletion(params, { signal: controller.signal });
    controller.abort(new Error('the user stopped it'));
    await expect(pending).rejects.toThrow('the user stopped it');
  });

  it('detects a stream cut without its final chunk', async () => {
    const s = await misbehaving((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(chunk('Hello') + chunk(' wor'));
    });
    const client = new OpenAICompatibleClient({ baseURL: s.url, retries: 0 });
    const shown: string[] = [];
    const run = async () => {
      for await (const c of client.chatCompletionStream(params)) {
        shown.push(c.choices[0].delta.content ?? '');
      }
    };
    await expect(run()).rejects.toBeInstanceOf(IncompleteStreamError);
    expect(shown.join('')).toBe('Hello wor');
  });

  it('resumes a cut stream after the text it showed: nothing twice, nothing missing', async () => {
    const s = await misbehaving((_req, res, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (n === 0) {
        res.end(chunk('The quick') + chunk(' brown'));
      } else {
        res.end(chunk(' fox jumps.') + chunk('', 'stop') + 'data: [DONE]\n\n');
      }
    });
    const client = new OpenAICompatibleClient({ baseURL: s.url, backoff: { baseMs: 1 } });
    let text = '';
    const events: EndpointEvent[] = [];
    for await (const c of client.chatCompletionStream(params, { onEvent: (e) => events.push(e) })) {
      text += c.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe('The quick brown fox jumps.');
    expect(events[0]).toMatchObject({ type: 'retry', resumedAfterChars: 15 });
    // The retry asked the endpoint to continue the reply shown so far.
    expect(s.bodies[1]).toMatchObject({
      continue_final_message: true,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'The quick brown' },
      ],
    });
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(() => new OpenAICompatibleClient({ baseURL: 'http://u:p@x/v1' })).toThrow(/credentials/);
  });
});
