import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { tinyModel } from '../model/testing/tiny-model.js';
import { Rng } from '../util/rng.js';
import type * as NodeEntry from './index.js';

// The edge server over a real engine (host processes on Dawn, the built dist/node, so
// `npm run build` comes first): OpenAI shapes streamed and whole, text completions,
// embeddings, batching of concurrent requests, and 30+ malformed requests that each get a 4xx
// with OpenAI's error JSON while the server stays up.

const entry = '../../dist/node/index.js';
let agentgpu: typeof NodeEntry;
let engine: NodeEntry.Engine;
let server: NodeEntry.EdgeServer;
let base: string;
const KEY = 'sk-test-edge';

const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q8_0', layers: 2, seed: 41 });

beforeAll(async () => {
  agentgpu = (await import(/* @vite-ignore */ entry)) as typeof NodeEntry;
  engine = await agentgpu.createEngine({
    models: [
      { id: 'tiny', source: bytes, options: { contextSize: 256, maxBatch: 64, sequences: 4 } },
    ],
  });
  server = await agentgpu.serve({ engine, port: 0, apiKey: KEY, queueLimit: 6 });
  base = server.url;
}, 240_000);

afterAll(async () => {
  await server?.close();
  await engine?.close();
});

const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

function post(path: string, body: unknown, headers: Record<string, string> = auth) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A raw request, for headers fetch() will not send (Host). */
function raw(
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'GET', headers },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The SSE events of a streamed response, and whether it ended with [DONE]. */
async function events(response: Response): Promise<{ chunks: unknown[]; done: boolean }> {
  const text = await response.text();
  const data = text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6));
  const done = data.at(-1) === '[DONE]';
  return { chunks: (done ? data.slice(0, -1) : data).map((d) => JSON.parse(d) as unknown), done };
}

const hello = { model: 'tiny', messages: [{ role: 'user', content: 'Hello there' }] };
const greedy = { temperature: 0, max_tokens: 8 };

describe('edge server', () => {
  it('answers chat completions whole and streamed, with the same text', async () => {
    const whole = await post('/v1/chat/completions', { ...hello, ...greedy });
    expect(whole.status).toBe(200);
    const reply = (await whole.json()) as {
      object: string;
      choices: { message: { content: string } }[];
      usage: { completion_tokens: number };
    };
    expect(reply.object).toBe('chat.completion');
    expect(reply.usage.completion_tokens).toBeGreaterThan(0);

    const streamed = await post('/v1/chat/completions', {
      ...hello,
      ...greedy,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(streamed.headers.get('content-type')).toBe('text/event-stream');
    const { chunks, done } = await events(streamed);
    expect(done).toBe(true);
    const typed = chunks as {
      object: string;
      choices: { delta: { content?: string }; finish_reason: string | null }[];
      usage?: unknown;
    }[];
    expect(typed.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    const text = typed.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(reply.choices[0].message.content);
    expect(typed.some((c) => c.choices[0]?.finish_reason)).toBe(true);
    expect(typed.at(-1)!.usage).toBeDefined();
  });

  it('answers text completions, streamed and whole, and embeddings', async () => {
    const whole = await post('/v1/completions', { model: 'tiny', prompt: 'Once upon', ...greedy });
    const completion = (await whole.json()) as { object: string; choices: { text: string }[] };
    expect(completion.object).toBe('text_completion');
    const streamed = await post('/v1/completions', {
      model: 'tiny',
      prompt: ['Once upon'],
      ...greedy,
      stream: true,
    });
    const { chunks, done } = await events(streamed);
    expect(done).toBe(true);
    const text = (chunks as { choices: { text: string }[] }[])
      .map((c) => c.choices[0]?.text ?? '')
      .join('');
    expect(text).toBe(completion.choices[0].text);

    const embedded = await post('/v1/embeddings', { model: 'tiny', input: ['a cat', 'a dog'] });
    expect(embedded.status).toBe(200);
    const e = (await embedded.json()) as {
      data: { index: number; embedding: number[] }[];
      usage: { prompt_tokens: number };
    };
    expect(e.data.map((d) => d.index)).toEqual([0, 1]);
    expect(Math.hypot(...e.data[0].embedding)).toBeCloseTo(1, 4);
    expect(e.usage.prompt_tokens).toBeGreaterThan(0);
    const b64 = await post('/v1/embeddings', {
      model: 'tiny',
      input: 'a cat',
      encoding_format: 'base64',
    });
    const encoded = (await b64.json()) as { data: { embedding: string }[] };
    const buf = Buffer.from(encoded.data[0].embedding, 'base64');
    const v = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    expect(Array.from(v).map((x) => x.toFixed(5))).toEqual(
      e.data[0].embedding.map((x) => x.toFixed(5)),
    );
  });

  it('lists its models', async () => {
    const list = await fetch(`${base}/v1/models`, { headers: auth });
    expect(((await list.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toEqual([
      'tiny',
    ]);
    const one = await fetch(`${base}/v1/models/tiny`, { headers: auth });
    expect(one.status).toBe(200);
  });

  it('batches concurrent requests into shared steps', async () => {
    const before = (await engine.telemetry.snapshot()).hosts[0].models[0].scheduler;
    const replies = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        post('/v1/chat/completions', {
          model: 'tiny',
          messages: [{ role: 'user', content: `Request number ${i}` }],
          temperature: 0,
          max_tokens: 12,
        }).then((r) => r.json()),
      ),
    );
    const after = (await engine.telemetry.snapshot()).hosts[0].models[0].scheduler;
    const decode = after.decodeTokens - before.decodeTokens;
    const steps = after.steps - before.steps;
    expect(replies).toHaveLength(4);
    // Run one by one this would take at least one step a decoded token.
    expect(steps).toBeLessThan(decode);
  });

  it('answers 429 with Retry-After when its queue is full', async () => {
    const slow = Array.from({ length: 10 }, (_, i) =>
      post('/v1/chat/completions', {
        model: 'tiny',
        messages: [{ role: 'user', content: `Queue ${i}` }],
        temperature: 0,
        max_tokens: 16,
      }),
    );
    const statuses = await Promise.all(
      slow.map(async (r) => {
        const res = await r;
        const body = (await res.json()) as { error?: { code: string } };
        return {
          status: res.status,
          retry: res.headers.get('retry-after'),
          code: body.error?.code,
        };
      }),
    );
    const refused = statuses.filter((s) => s.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((s) => s.retry === '1' && s.code === 'queue_full')).toBe(true);
    expect(statuses.filter((s) => s.status === 200).length).toBeGreaterThanOrEqual(6);
  });

  it('refuses a streamed request past the queue with a 429 before any stream starts', async () => {
    const ask = (i: number, stream: boolean) =>
      post('/v1/chat/completions', {
        model: 'tiny',
        messages: [{ role: 'user', content: `Stream ${i}` }],
        temperature: 0,
        max_tokens: 24,
        stream,
      });
    // Six fill the queue (queueLimit 6); the streamed seventh is refused whole.
    const filling = Array.from({ length: 6 }, (_, i) => ask(i, false));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const late = await ask(6, true);
    expect(late.status).toBe(429);
    expect(late.headers.get('retry-after')).toBe('1');
    expect(late.headers.get('content-type')).toMatch(/application\/json/);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('queue_full');
    for (const res of await Promise.all(filling)) {
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
  });

  it('gives every malformed request a 4xx with OpenAI error JSON, and stays up', async () => {
    const long = 'word '.repeat(400);
    const cases: [string, () => Promise<Response>, number][] = [
      ['invalid JSON', () => post('/v1/chat/completions', '{"model": "tiny",'), 400],
      ['empty body', () => post('/v1/chat/completions', ''), 400],
      ['JSON array body', () => post('/v1/chat/completions', '[1,2]'), 400],
      ['JSON string body', () => post('/v1/chat/completions', '"hello"'), 400],
      [
        'not JSON content type',
        () => post('/v1/chat/completions', 'x', { ...auth, 'content-type': 'text/plain' }),
        415,
      ],
      ['unknown model', () => post('/v1/chat/completions', { ...hello, model: 'gpt-9' }), 404],
      ['no model', () => post('/v1/chat/completions', { messages: hello.messages }), 400],
      ['model not a string', () => post('/v1/chat/completions', { ...hello, model: 42 }), 400],
      ['no messages', () => post('/v1/chat/completions', { model: 'tiny' }), 400],
      ['empty messages', () => post('/v1/chat/completions', { model: 'tiny', messages: [] }), 400],
      [
        'messages not an array',
        () => post('/v1/chat/completions', { model: 'tiny', messages: 'hi' }),
        400,
      ],
      [
        'message not an object',
        () => post('/v1/chat/completions', { model: 'tiny', messages: ['hi'] }),
        400,
      ],
      [
        'bad role',
        () =>
          post('/v1/chat/completions', {
            model: 'tiny',
            messages: [{ role: 'wizard', content: 'x' }],
          }),
        400,
      ],
      [
        'content a number',
        () =>
          post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 5 }] }),
        400,
      ],
      [
        'negative max_tokens',
        () => post('/v1/chat/completions', { ...hello, max_tokens: -5 }),
        400,
      ],
      ['zero max_tokens', () => post('/v1/chat/completions', { ...hello, max_tokens: 0 }), 400],
      [
        'absurd max_tokens',
        () => post('/v1/chat/completions', { ...hello, max_tokens: 1e12 }),
        400,
      ],
      [
        'fractional max_tokens',
        () => post('/v1/chat/completions', { ...hello, max_tokens: 2.5 }),
        400,
      ],
      [
        'temperature too high',
        () => post('/v1/chat/completions', { ...hello, temperature: 7 }),
        400,
      ],
      [
        'negative temperature',
        () => post('/v1/chat/completions', { ...hello, temperature: -1 }),
        400,
      ],
      [
        'temperature a string',
        () => post('/v1/chat/completions', { ...hello, temperature: 'hot' }),
        400,
      ],
      ['top_p above 1', () => post('/v1/chat/completions', { ...hello, top_p: 1.5 }), 400],
      [
        'penalty out of range',
        () => post('/v1/chat/completions', { ...hello, presence_penalty: 9 }),
        400,
      ],
      ['n of 3', () => post('/v1/chat/completions', { ...hello, n: 3 }), 400],
      [
        'stop of 5',
        () => post('/v1/chat/completions', { ...hello, stop: ['a', 'b', 'c', 'd', 'e'] }),
        400,
      ],
      ['stop a number', () => post('/v1/chat/completions', { ...hello, stop: 3 }), 400],
      ['stream a string', () => post('/v1/chat/completions', { ...hello, stream: 'yes' }), 400],
      ['stop empty', () => post('/v1/chat/completions', { ...hello, stop: '' }), 400],
      [
        'tool_calls a string',
        () =>
          post('/v1/chat/completions', {
            model: 'tiny',
            messages: [{ role: 'assistant', content: null, tool_calls: 'x' }],
          }),
        400,
      ],
      [
        'tools not tools',
        () => post('/v1/completions', { model: 'tiny', prompt: 'a', tools: true }),
        400,
      ],
      [
        'tool_choice unknown',
        () => post('/v1/chat/completions', { ...hello, tool_choice: 'maybe' }),
        400,
      ],
      [
        'bad response_format',
        () => post('/v1/chat/completions', { ...hello, response_format: { type: 'xml' } }),
        400,
      ],
      [
        'json_schema without schema',
        () =>
          post('/v1/chat/completions', {
            ...hello,
            response_format: { type: 'json_schema', json_schema: {} },
          }),
        400,
      ],
      [
        'prompt longer than the context',
        () =>
          post('/v1/chat/completions', {
            model: 'tiny',
            messages: [{ role: 'user', content: long }],
          }),
        400,
      ],
      ['completion without prompt', () => post('/v1/completions', { model: 'tiny' }), 400],
      [
        'completion with two prompts',
        () => post('/v1/completions', { model: 'tiny', prompt: ['a', 'b'] }),
        400,
      ],
      ['embedding empty input', () => post('/v1/embeddings', { model: 'tiny', input: [] }), 400],
      ['embedding number input', () => post('/v1/embeddings', { model: 'tiny', input: 7 }), 400],
      [
        'embeddings past 65,536 tokens',
        () =>
          post('/v1/embeddings', {
            model: 'tiny',
            input: Array(2048).fill('a fox ran '.repeat(10)),
          }),
        400,
      ],
      [
        'embeddings of 2,049 inputs',
        () => post('/v1/embeddings', { model: 'tiny', input: Array(2049).fill('a') }),
        400,
      ],
      ['embedding unknown model', () => post('/v1/embeddings', { model: 'nope', input: 'x' }), 404],
      [
        'embedding bad format',
        () => post('/v1/embeddings', { model: 'tiny', input: 'x', encoding_format: 'hex' }),
        400,
      ],
      ['agent parameter', () => post('/v1/chat/completions', { ...hello, agent: 'x' }), 400],
      [
        'no API key',
        () => post('/v1/chat/completions', hello, { 'content-type': 'application/json' }),
        401,
      ],
      [
        'wrong API key',
        () => post('/v1/chat/completions', hello, { ...auth, authorization: 'Bearer nope' }),
        401,
      ],
      ['unknown route', () => post('/v1/images/generations', hello), 404],
      ['wrong method', () => fetch(`${base}/v1/chat/completions`, { headers: auth }), 405],
      ['unknown model by id', () => fetch(`${base}/v1/models/nope`, { headers: auth }), 404],
      [
        'body too large',
        () => post('/v1/chat/completions', { ...hello, pad: 'x'.repeat(5 << 20) }),
        413,
      ],
    ];
    expect(cases.length).toBeGreaterThanOrEqual(30);
    for (const [name, send, status] of cases) {
      const res = await send();
      const body = (await res.json()) as {
        error?: { message: string; type: string; param: string | null; code: string | null };
      };
      expect(res.status, name).toBe(status);
      expect(body.error, name).toBeDefined();
      expect(typeof body.error!.message, name).toBe('string');
      expect(body.error!.message.length, name).toBeGreaterThan(10);
      expect(typeof body.error!.type, name).toBe('string');
      expect('param' in body.error! && 'code' in body.error!, name).toBe(true);
    }
    const tooLong = await post('/v1/chat/completions', {
      model: 'tiny',
      messages: [{ role: 'user', content: long }],
    });
    expect(((await tooLong.json()) as { error: { code: string } }).error.code).toBe(
      'context_length_exceeded',
    );
    // DNS rebinding: another Host name is refused.
    const rebound = await raw('/v1/models', { host: 'evil.example:80', ...auth });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error.code).toBe('host_not_allowed');
    // Still up and answering.
    const ok = await post('/v1/chat/completions', { ...hello, ...greedy });
    expect(ok.status).toBe(200);
    expect(server.active).toBe(0);
  });

  it('answers abuse with 400s, keeps CORS closed by default, and serves on', async () => {
    const error = async (res: Response) =>
      [res.status, ((await res.json()) as { error: { message: string } }).error.message] as const;
    // A body of null, one nested 5,000 deep, a schema no reply can meet or too costly to hold.
    expect(await error(await post('/v1/chat/completions', 'null'))).toEqual([
      400,
      'the body must be a JSON object',
    ]);
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const nested = await post('/v1/chat/completions', `{"model":"tiny","messages":${deep}}`);
    expect(await error(nested)).toEqual([400, 'the body nests deeper than 64 levels']);
    for (const [schema, message] of [
      [{ type: 'string', minLength: 10, maxLength: 2 }, /minLength 10 > maxLength 2/],
      [{ type: 'array', items: { type: 'integer' }, minItems: 1e9 }, /more than the 4096/],
    ] as const) {
      // Whole or streamed: a 400 before any stream starts.
      for (const stream of [false, true]) {
        const res = await post('/v1/chat/completions', {
          ...hello,
          max_tokens: 4,
          stream,
          response_format: { type: 'json_schema', json_schema: { name: 's', schema } },
        });
        const [status, text] = await error(res);
        expect([status, text]).toEqual([400, expect.stringMatching(message)]);
      }
    }
    // An empty prompt for a model without BOS tokens (Qwen's): a 400, not a crash.
    const empty = await post('/v1/completions', { model: 'tiny', prompt: '', max_tokens: 2 });
    expect(await error(empty)).toEqual([400, expect.stringMatching(/the prompt is empty/)]);
    // Embeddings past the inputs × tokens a request may hold.
    const many = Array(2048).fill('a fox ran '.repeat(10));
    expect(await error(await post('/v1/embeddings', { model: 'tiny', input: many }))).toEqual([
      400,
      expect.stringMatching(/one embeddings request takes at most 65536: split it/),
    ]);
    // A malformed percent-escape in a model id.
    const escape = await raw('/v1/models/%E0%A4%A', { host: new URL(base).host, ...auth });
    expect(escape.status).toBe(400);
    // A page of another origin gets no CORS grant unless the server names it.
    const cross = await fetch(`${base}/v1/models`, {
      headers: { ...auth, origin: 'http://evil.example' },
    });
    expect(cross.status).toBe(200);
    expect(cross.headers.get('access-control-allow-origin')).toBeNull();
    // Still up and answering.
    const ok = await post('/v1/chat/completions', { ...hello, ...greedy });
    expect(ok.status).toBe(200);
  });

  // REQUEST_FUZZ_CASES / REQUEST_FUZZ_SEED run more, or others.
  const fuzzCases = Number(process.env.REQUEST_FUZZ_CASES ?? 240);
  it(`a seeded fuzz of ${fuzzCases} mangled requests: never a 5xx, every error OpenAI JSON, serving on`, async () => {
    const rng = new Rng(Number(process.env.REQUEST_FUZZ_SEED ?? 20261130));
    const pick = <T>(items: readonly T[]): T => items[rng.int(0, items.length - 1)];
    const deep = (n: number): unknown => (n === 0 ? 'x' : { a: [deep(n - 1)] });
    const values: unknown[] = [
      null,
      true,
      false,
      0,
      -1,
      1,
      2.5,
      1e308,
      -1e308,
      2 ** 53,
      '',
      'x',
      'tiny',
      '0',
      '-1',
      'x'.repeat(20_000),
      [],
      [1, 'a'],
      {},
      { a: {} },
      deep(12),
      { type: 'text' },
      [{ role: 'user', content: 'hi' }],
      { role: 'user' },
      [[]],
      ['\u0000'],
    ];
    const bases: [string, Record<string, unknown>][] = [
      ['/v1/chat/completions', { ...hello, max_tokens: 3, temperature: 0 }],
      ['/v1/chat/completions', { ...hello, max_tokens: 3, stream: true }],
      ['/v1/completions', { model: 'tiny', prompt: 'Once', max_tokens: 3 }],
      ['/v1/embeddings', { model: 'tiny', input: ['a fox', 'a dog'] }],
    ];
    const fields = [
      'model',
      'messages',
      'max_tokens',
      'temperature',
      'top_p',
      'stream',
      'stop',
      'seed',
      'n',
      'presence_penalty',
      'frequency_penalty',
      'response_format',
      'tools',
      'tool_choice',
      'prompt',
      'input',
      'encoding_format',
      'stream_options',
      'logit_bias',
      'user',
    ];
    const statuses = new Map<number, number>();
    for (let i = 0; i < fuzzCases; i++) {
      const [path, base] = pick(bases);
      const body: Record<string, unknown> = structuredClone(base);
      for (let n = rng.int(1, 3); n > 0; n--) {
        const field = pick(fields);
        const op = rng.int(0, 5);
        if (op === 0) delete body[field];
        else if (op === 1 && Array.isArray(body.messages)) {
          const message = { ...(body.messages[0] as object) } as Record<string, unknown>;
          message[pick(['role', 'content', 'tool_calls', 'name', 'tool_call_id'])] = pick(values);
          body.messages = [message];
        } else if (op === 2) {
          body.response_format = pick([
            { type: 'json_object' },
            { type: 'json_schema', json_schema: { name: 's', schema: pick(values) } },
            {
              type: 'json_schema',
              json_schema: { schema: { type: 'object', properties: pick(values) } },
            },
            {
              type: 'json_schema',
              json_schema: { schema: { type: 'array', items: pick(values), maxItems: 2 } },
            },
          ]);
          body.max_tokens = 4;
        } else if (op === 3) {
          // A malformed tool, or a well-formed one whose schema is anything, with a choice.
          const name = rng.int(0, 1) ? 'lookup' : pick(values);
          const properties = { a: pick(values), b: { type: 'integer', maximum: pick(values) } };
          const parameters = rng.int(0, 1) ? { type: 'object', properties } : pick(values);
          body.tools = [{ type: 'function', function: { name, parameters } }];
          body.tool_choice = pick([
            'auto',
            'required',
            'none',
            { type: 'function', function: { name } },
            pick(values),
          ]);
          body.max_tokens = 6;
        } else body[field] = pick(values);
      }
      if (rng.int(0, 3) === 0 && body.max_tokens === undefined) body.max_tokens = 2;
      const res = await post(path, body);
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = await res.text();
      const what = `${path} ${JSON.stringify(body).slice(0, 300)} -> ${text.slice(0, 300)}`;
      expect(res.status, what).toBeLessThan(500);
      if (res.status !== 200) {
        const error = (JSON.parse(text) as { error: { message: string; type: string } }).error;
        expect(typeof error.message, what).toBe('string');
        expect(error.type, what).toBe('invalid_request_error');
      } else if (body.stream !== true) {
        expect(JSON.parse(text), what).toBeTypeOf('object');
      }
    }
    console.log(`request fuzz, ${fuzzCases} cases, statuses:`, Object.fromEntries(statuses));
    expect(statuses.get(200) ?? 0).toBeGreaterThan(fuzzCases / 20);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(fuzzCases / 3);
    const ok = await post('/v1/chat/completions', { ...hello, ...greedy });
    expect(ok.status).toBe(200);
    expect(server.active).toBe(0);
  });

  it('stops the embeddings of a client that goes away', async () => {
    const embedded = async () =>
      (await engine.telemetry.snapshot()).hosts[0].models[0].scheduler.embedded;
    const before = await embedded();
    const controller = new AbortController();
    const input = Array.from(
      { length: 64 },
      (_, i) => `input ${i}: ${'a fox ran far. '.repeat(60)}`,
    );
    const res = fetch(`${base}/v1/embeddings`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'tiny', input }),
      signal: controller.signal,
    });
    for (let i = 0; i < 200 && (await embedded()) === before; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    controller.abort();
    await expect(res).rejects.toThrow(/abort/i);
    // The host call in flight finishes (4 inputs a call), then nothing more is embedded.
    let stopped = await embedded();
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const now = await embedded();
      if (now === stopped) break;
      stopped = now;
    }
    expect(stopped - before).toBeLessThanOrEqual(12);
    const ok = await post('/v1/chat/completions', { ...hello, ...greedy });
    expect(ok.status).toBe(200);
  });

  it('cancels the generation of a client that goes away', async () => {
    const controller = new AbortController();
    const res = await post('/v1/chat/completions', {
      model: 'tiny',
      messages: [{ role: 'user', content: 'Tell me a long story' }],
      max_tokens: 200,
      stream: true,
    });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel();
    for (let i = 0; i < 100 && server.active > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.active).toBe(0);
    const stats = (await engine.telemetry.snapshot()).hosts[0].models[0].scheduler;
    expect(stats.running).toBe(0);
  });
});
