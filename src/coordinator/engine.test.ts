import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyModel } from '../model/testing/tiny-model.js';
import type * as NodeEntry from '../node/index.js';
import { QWEN2_5_0_5B_INSTRUCT } from '../model/chat/testing/reference-templates.js';

// The coordinator in Node: host workers are child processes on Dawn (the built
// dist/node/host-process.js, so `npm run build` comes first, as for the CLI tests), two models
// in two hosts, three agents, the OpenAI-shaped API, task graphs, cancellation, telemetry, the
// audit log, and a host that dies mid-generation.

const entry = '../../dist/node/index.js';
let agentgpu: typeof NodeEntry;
let engine: NodeEntry.Engine;

const chatModel = tinyModel({
  architecture: 'qwen2',
  weights: 'Q8_0',
  layers: 2,
  seed: 31,
  contextLength: 2048,
});
const workModel = tinyModel({ architecture: 'llama', weights: 'Q4_K', layers: 2, seed: 32 });

beforeAll(async () => {
  agentgpu = (await import(/* @vite-ignore */ entry)) as typeof NodeEntry;
  engine = await agentgpu.createEngine({
    models: [
      {
        id: 'chat',
        source: chatModel.bytes,
        // Qwen2.5's template, which renders tools (the generated model has none of its own).
        options: { contextSize: 1024, maxBatch: 256, chatTemplate: QWEN2_5_0_5B_INSTRUCT },
      },
      { id: 'work', source: workModel.bytes, options: { contextSize: 256, maxBatch: 64 } },
    ],
    agents: [
      { name: 'router', model: 'chat', systemPrompt: 'Route the request.' },
      { name: 'worker', model: 'work', systemPrompt: 'Do the work.' },
      { name: 'summarizer', model: 'chat', role: 'background', systemPrompt: 'Summarize.' },
    ],
  });
}, 240_000);

afterAll(async () => {
  await engine?.close();
});

const greedy = { temperature: 0, max_tokens: 8 } as const;

describe('engine (Node: host processes on Dawn)', () => {
  it('lists its models and answers in OpenAI shapes, streamed or whole', async () => {
    const list = await engine.models.list();
    expect(list.object).toBe('list');
    expect(list.data.map((m) => m.id)).toEqual(['chat', 'work']);
    expect(engine.debug.hostNames()).toEqual(['chat', 'work']);

    const messages = [{ role: 'user' as const, content: 'Hello there' }];
    const whole = await engine.chat.completions.create({ model: 'chat', messages, ...greedy });
    expect(whole).toMatchObject({
      object: 'chat.completion',
      model: 'chat',
      choices: [{ index: 0, message: { role: 'assistant' }, logprobs: null }],
    });
    expect(['stop', 'length']).toContain(whole.choices[0].finish_reason);
    const usage = whole.usage;
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);

    const stream = await engine.chat.completions.create({
      model: 'chat',
      messages,
      ...greedy,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0].message.content);
    const last = chunks.at(-2)!;
    expect(last.choices[0].finish_reason).toBe(whole.choices[0].finish_reason);
    expect(chunks.at(-1)!.usage).toMatchObject({ completion_tokens: usage.completion_tokens });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('says clearly what is wrong with a request', async () => {
    const messages = [{ role: 'user' as const, content: 'x' }];
    await expect(engine.chat.completions.create({ model: 'nope', messages })).rejects.toThrow(
      /no model or agent "nope" \(models: chat, work; agents: router, worker, summarizer\)/,
    );
    await expect(engine.chat.completions.create({ model: 'chat', messages: [] })).rejects.toThrow(
      agentgpu.RequestError,
    );
  });

  it("response_format json_schema: the reply parses and has the schema's shape", async () => {
    const schema = {
      type: 'object',
      properties: { answer: { type: 'string', maxLength: 10 }, confidence: { type: 'number' } },
      required: ['answer', 'confidence'],
    };
    const reply = await engine.chat.completions.create({
      agent: 'worker',
      messages: [{ role: 'user', content: 'Answer in JSON.' }],
      temperature: 0.8,
      seed: 3,
      max_tokens: 30,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } },
    });
    const parsed = JSON.parse(reply.choices[0].message.content!);
    expect(Object.keys(parsed)).toEqual(['answer', 'confidence']);
    expect(typeof parsed.answer).toBe('string');
    expect(parsed.answer.length).toBeLessThanOrEqual(10);
    expect(typeof parsed.confidence).toBe('number');
    await expect(
      engine.chat.completions.create({
        model: 'chat',
        messages: [{ role: 'user', content: 'x' }],
        response_format: {
          type: 'json_schema',
          json_schema: { schema: { type: 'string', format: 'email' } },
        },
      }),
    ).rejects.toThrow(/"format" is not supported/);
  });

  it('tools: a required call comes back as OpenAI tool_calls, whole or streamed', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'lookup',
          parameters: {
            type: 'object',
            properties: { query: { type: 'string', maxLength: 16 } },
            required: ['query'],
          },
        },
      },
    ];
    // An agent's session: the second request reuses the first one's ~700-token prompt.
    const params = {
      agent: 'router',
      messages: [{ role: 'user' as const, content: 'Find the fox.' }],
      temperature: 1,
      seed: 5,
      max_tokens: 24,
      tools,
      tool_choice: 'required' as const,
    };
    const whole = await engine.chat.completions.create(params);
    const choice = whole.choices[0];
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const [call] = choice.message.tool_calls!;
    expect(call).toMatchObject({ type: 'function', function: { name: 'lookup' } });
    expect(typeof JSON.parse(call.function.arguments).query).toBe('string');
    const stream = await engine.chat.completions.create({ ...params, stream: true });
    const deltas = [];
    for await (const chunk of stream) deltas.push(chunk.choices[0]);
    const callDelta = deltas.find((d) => d.delta.tool_calls)!.delta.tool_calls![0];
    expect(callDelta).toMatchObject({ index: 0, function: call.function });
    expect(deltas.at(-1)!.finish_reason).toBe('tool_calls');
  });

  it('a task graph runs independent steps at once and feeds their outputs on', async () => {
    const result = await engine.run({
      steps: [
        { id: 'route', agent: 'router', prompt: 'Plan a trip', maxTokens: 12, temperature: 0 },
        { id: 'work', agent: 'worker', prompt: 'Pack the bags', maxTokens: 12, temperature: 0 },
        {
          id: 'sum',
          agent: 'summarizer',
          prompt: 'Plan: {{route}} Bags: {{work}}',
          dependsOn: ['route', 'work'],
          maxTokens: 4,
          temperature: 0,
        },
      ],
    });
    const { route, work, sum } = result;
    // The two independent steps overlapped (two host workers, each busy at once) ...
    expect(route.startedAt).toBeLessThan(work.finishedAt);
    expect(work.startedAt).toBeLessThan(route.finishedAt);
    // ... and telemetry saw both running at once.
    const events = engine.telemetry.events((e) => e.type === 'request');
    const span = (id: string) => {
      const of = events.filter((e) => e.type === 'request' && e.requestId === id);
      const at = (phase: string) => of.find((e) => e.type === 'request' && e.phase === phase)!.at;
      return [at('started'), at('finished')];
    };
    const [a0, a1] = span(route.completion.id);
    const [b0, b1] = span(work.completion.id);
    expect(a0).toBeLessThan(b1);
    expect(b0).toBeLessThan(a1);
    // The summary waited for both, and its prompt held their outputs.
    expect(sum.startedAt).toBeGreaterThanOrEqual(Math.max(route.finishedAt, work.finishedAt));
    expect(sum.completion.usage.prompt_tokens).toBeGreaterThan(10);
    await expect(
      engine.run({
        steps: [
          { id: 'a', agent: 'router', prompt: 'x', dependsOn: ['b'] },
          { id: 'b', agent: 'router', prompt: 'y', dependsOn: ['a'] },
        ],
      }),
    ).rejects.toThrow(/task graph has a cycle: a -> b -> a/);
  });

  it('a request cancelled mid-stream frees its KV sequence at once', async () => {
    const usedBlocks = async () => {
      const snapshot = await engine.telemetry.snapshot();
      const host = snapshot.hosts.find((h) => h.name === 'work')!;
      return host.models[0].kv.usedBlocks;
    };
    const idle = await usedBlocks();
    const controller = new AbortController();
    const stream = await engine.chat.completions.create(
      {
        model: 'work',
        messages: [{ role: 'user', content: 'Tell me a long story about a fox. '.repeat(4) }],
        temperature: 0,
        max_tokens: 200,
        stream: true,
      },
      { signal: controller.signal },
    );
    let seen = 0;
    let during = 0;
    await expect(
      (async () => {
        for await (const chunk of stream) {
          void chunk;
          if (++seen === 4) {
            during = await usedBlocks();
            controller.abort();
          }
        }
      })(),
    ).rejects.toThrow(/abort/i);
    expect(during).toBeGreaterThan(idle);
    // The host freed the request's blocks as soon as the cancel reached it.
    for (let i = 0; i < 50 && (await usedBlocks()) > idle; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await usedBlocks()).toBe(idle);
    expect(engine.audit.query({ kind: 'cancel' })).toHaveLength(1);
    const snapshot = await engine.telemetry.snapshot();
    expect(snapshot.agents.find((a) => a.name === 'work')).toMatchObject({ cancelled: 1 });
  });

  for (const how of ['exit', 'device'] as const) {
    it(`a host that dies mid-generation (${how}) is restarted; the request fails clearly; the audit log says why`, async () => {
      const stream = await engine.chat.completions.create({
        agent: 'router',
        messages: [{ role: 'user', content: 'Count to one hundred.' }],
        temperature: 0,
        max_tokens: 200,
        stream: true,
      });
      let seen = 0;
      const failure = (async () => {
        for await (const chunk of stream) {
          void chunk;
          if (++seen === 3) await engine.debug.crashHost('chat', how);
        }
      })();
      await expect(failure).rejects.toThrow(agentgpu.HostRestartedError);
      await expect(failure).rejects.toThrow(/host worker "chat" stopped .*send it again/);
      const restarts = engine.audit.query({ kind: 'restart', subject: 'host:chat' });
      expect(restarts.length).toBeGreaterThan(0);
      expect(restarts.at(-1)!.reason).toMatch(
        // Exiting with a live Dawn device may end in a signal rather than the exit code.
        how === 'exit'
          ? /the worker (exited with code 70|was killed \(SIG\w+\))/
          : /GPU device was lost/,
      );
      // The restarted host serves again.
      const after = await engine.chat.completions.create({
        agent: 'router',
        messages: [{ role: 'user', content: 'Hello again' }],
        ...greedy,
      });
      expect(after.usage.completion_tokens).toBeGreaterThan(0);
      const snapshot = await engine.telemetry.snapshot();
      expect(snapshot.hosts.find((h) => h.name === 'chat')).toMatchObject({ state: 'ready' });
    });
  }

  it('a full queue rejects a stream before it starts, as it rejects a whole request', async () => {
    // The worker agent may hold one request: a second, streamed or whole, is QueueFullError at
    // create(), never a stream that ends in an error.
    engine.addAgent({ name: 'single', model: 'work', limits: { queue: 1 } });
    const controller = new AbortController();
    const first = await engine.chat.completions.create(
      {
        agent: 'single',
        messages: [{ role: 'user', content: 'go on' }],
        max_tokens: 200,
        stream: true,
      },
      { signal: controller.signal },
    );
    for (const stream of [true, false]) {
      await expect(
        engine.chat.completions.create({
          agent: 'single',
          messages: [{ role: 'user', content: 'me too' }],
          stream,
        } as never),
      ).rejects.toMatchObject({ name: 'QueueFullError' });
    }
    controller.abort();
    await expect(
      (async () => {
        for await (const chunk of first) void chunk;
      })(),
    ).rejects.toThrow();
  });

  it('the audit log explains placements and configuration', () => {
    const placements = engine.audit.query({ kind: 'placement' });
    expect(placements.map((d) => d.subject)).toEqual(
      expect.arrayContaining(['model:chat', 'model:work', 'agent:router', 'agent:summarizer']),
    );
    const configure = engine.audit.query({ kind: 'configure', subject: 'model:chat' })[0];
    expect(configure.reason).toMatch(/no shader-f16, so K\/V stay f32/);
    expect(configure.inputs).toMatchObject({ shaderF16: false, agents: 2 });
    const memory = engine.audit.query({ kind: 'configure', subject: 'model:work' })[1];
    expect(memory.decision).toMatch(/holds [\d.]+ MiB of GPU buffers: weights/);
    expect(memory.inputs).toMatchObject({ kv: 'f32', kvLimitedBy: 'context' });
  });
});

describe('engine watchdog', () => {
  it('a host that stops answering is restarted, and a request that had no token yet resumes', async () => {
    const watched = await agentgpu.createEngine({
      models: [{ id: 'm', source: chatModel.bytes, options: { contextSize: 128, maxBatch: 32 } }],
      watchdog: { stallMs: 1500, pingTimeoutMs: 500 },
    });
    try {
      await watched.debug.crashHost('m', 'hang');
      const reply = await watched.chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'Are you there?' }],
        temperature: 0,
        max_tokens: 4,
      });
      expect(reply.usage.completion_tokens).toBeGreaterThan(0);
      const kinds = watched.audit.query().map((d) => d.kind);
      expect(kinds).toEqual(expect.arrayContaining(['watchdog', 'restart', 'resume']));
      const watchdog = watched.audit.query({ kind: 'watchdog' })[0];
      expect(watchdog.reason).toMatch(/no progress for 1500 ms and no answer to a ping/);
      expect(watched.audit.query({ kind: 'resume' })[0].subject).toBe(`request:${reply.id}`);
    } finally {
      await watched.close();
    }
  });
});

describe('engine KV decisions', () => {
  it('window evictions and reclaimed sessions are in the audit log, with why', async () => {
    const small = await agentgpu.createEngine({
      models: [
        {
          id: 'm',
          source: workModel.bytes,
          // Two sequences: the model's default session and one agent's at a time.
          options: { window: { window: 32, sinks: 4 }, sequences: 2, maxBatch: 32 },
        },
      ],
      agents: [
        { name: 'a', model: 'm' },
        { name: 'b', model: 'm' },
      ],
    });
    try {
      await small.chat.completions.create({
        agent: 'a',
        messages: [{ role: 'user', content: 'Go on and on.' }],
        temperature: 0,
        max_tokens: 60,
      });
      const window = small.audit.query({ kind: 'eviction', subject: 'model:m/agent:a' });
      expect(window.length).toBeGreaterThan(0);
      expect(window[0].decision).toMatch(/evict tokens \d+\.\.\d+ from the sliding window/);
      expect(typeof window[0].inputs.text).toBe('string');
      await small.chat.completions.create({
        agent: 'b',
        messages: [{ role: 'user', content: 'Hi' }],
        temperature: 0,
        max_tokens: 2,
      });
      const reclaimed = small.audit
        .query({ kind: 'eviction' })
        .find((d) => d.decision.startsWith('close idle session'))!;
      expect(reclaimed.subject).toBe('model:m/agent:a');
      expect(reclaimed.reason).toMatch(/session "agent:b" needed a KV sequence/);
      const schedule = small.audit.query({ kind: 'schedule' });
      expect(schedule).toHaveLength(2);
      expect(schedule[1].decision).toMatch(/in session "agent:b", interactive/);
      expect(small.telemetry.events((e) => e.type === 'kv').length).toBeGreaterThan(1);
    } finally {
      await small.close();
    }
  });
});
