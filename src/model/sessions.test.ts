import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { LanguageModel, type GenerateOptions, type ScheduleOptions } from './language-model.js';
import { tinyModel } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

// Several generations on one model at once (sub-agents' conversations as sessions): batched
// steps, chunked prefill beside decode, priorities, cancellation, sessions beyond the
// sequences the cache holds.

const { bytes } = tinyModel({ architecture: 'llama', weights: 'Q8_0', layers: 2, seed: 21 });
// f32 matmul inputs: steps of more than 8 rows take the GEMM (on a software adapter), whose last
// bits differ from the matvec's, and 8-bit input rounding could turn that into a flipped near
// tie (see batched-decode.test.ts); here equal tokens test the scheduling.
const loadOptions = { contextSize: 256, maxBatch: 64, sequences: 4, matmulInputs: 'f32' } as const;
const greedy = { temperature: 0, ignoreEos: true } satisfies GenerateOptions;
const LONG = 'the quick brown fox jumps over the lazy dog '.repeat(4);

let gpu: GpuContext;
let model: LanguageModel;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
  model = await LanguageModel.load(gpu, bytesSource(bytes), loadOptions);
});
afterAll(() => {
  model?.destroy();
  gpu?.destroy();
});

/** Runs a generation, noting when (in event order) each token came. */
function track(
  log: string[],
  name: string,
  prompt: string,
  options: GenerateOptions & ScheduleOptions,
) {
  const generation = model.generate(prompt, { ...greedy, ...options });
  const done = (async () => {
    const tokens: number[] = [];
    for await (const t of generation) {
      if (t.token === undefined) continue;
      tokens.push(t.token);
      log.push(name);
    }
    return { tokens, result: await generation.result };
  })();
  return done;
}

describe('sessions on one model', () => {
  it('three generations at once give the tokens each gives alone, in fewer steps', async () => {
    const prompts = ['Once upon a time', 'Hello there, friend', LONG];
    const alone: number[][] = [];
    for (const [i, prompt] of prompts.entries()) {
      const r = await model.generate(prompt, { ...greedy, maxTokens: 12, session: `s${i}` }).result;
      alone.push(r.tokens);
      model.closeSession(`s${i}`);
    }
    const before = model.stats();
    const log: string[] = [];
    const runs = prompts.map((p, i) => track(log, `s${i}`, p, { maxTokens: 12, session: `s${i}` }));
    const together = await Promise.all(runs);
    expect(together.map((t) => t.tokens)).toEqual(alone);
    const after = model.stats();
    const steps = after.steps - before.steps;
    // Alone: each prompt takes a step (LONG two) and 11 decode steps: 37. Together the decode
    // steps overlap: a step for the first prompt, then each later one (LONG in two chunks)
    // beside the others' decode steps, and the last one's 11.
    expect(steps).toBeLessThanOrEqual(15);
    expect(after.decodeTokens - before.decodeTokens).toBe(3 * 11);
    // The long prompt went in 64-token chunks beside the others' decode steps: the short ones
    // had tokens before the long one's first.
    expect(log.indexOf('s0')).toBeLessThan(log.indexOf('s2'));
    expect(log.indexOf('s1')).toBeLessThan(log.indexOf('s2'));
    for (const { result } of together) {
      expect(result.timings.timeToFirstTokenMs).toBeGreaterThan(0);
    }
    for (let i = 0; i < 3; i++) model.closeSession(`s${i}`);
  });

  it('embeddings run between steps: the same vectors alone or beside generations, which go on unchanged', async () => {
    const texts = ['Remember this: my locker combination is 4812.', LONG, ''];
    const alone = await model.embed(texts);
    const solo = await model.generate(LONG, { ...greedy, maxTokens: 8, session: 'g' }).result;
    model.closeSession('g');
    const log: string[] = [];
    const run = track(log, 'g', LONG, { maxTokens: 8, session: 'g' });
    const beside = await Promise.all([model.embed(texts), model.embed([texts[0]])]);
    const { tokens } = await run;
    expect(tokens).toEqual(solo.tokens);
    expect(beside[0]).toEqual(alone);
    expect(beside[1][0]).toEqual(alone[0]);
    for (const v of alone) {
      expect(v).toHaveLength(model.config.embedding);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
    // Their sequences are gone: the generation's session alone holds blocks.
    model.closeSession('g');
    expect(model.decoder.kvStats().usedBlocks).toBe(0);
  });

  it('a session keeps its conversation: the next turn prefills only its new tokens', async () => {
    const first = await model.generate('Once upon a time', {
      ...greedy,
      maxTokens: 4,
      session: 'chat',
    }).result;
    const text = 'Once upon a time' + first.text + ' and then';
    const second = await model.generate(text, { ...greedy, maxTokens: 4, session: 'chat' }).result;
    expect(second.timings.reusedPromptTokens).toBeGreaterThanOrEqual(first.promptTokens.length);
    const cold = await model.generate(text, {
      ...greedy,
      maxTokens: 4,
      session: 'cold',
      reusePrefix: false,
    }).result;
    expect(cold.timings.reusedPromptTokens).toBe(0);
    expect(second.tokens).toEqual(cold.tokens);
    model.closeSession('chat');
    model.closeSession('cold');
  });

  it('a cancelled generation frees its KV blocks at once; the others go on', async () => {
    const controller = new AbortController();
    const kept = model.generate('Hello there, friend', {
      ...greedy,
      maxTokens: 40,
      session: 'kept',
    });
    const cancelled = model.generate(LONG, {
      ...greedy,
      maxTokens: 200,
      session: 'cancelled',
      signal: controller.signal,
    });
    let blocksWhileRunning = 0;
    const watch = (async () => {
      let seen = 0;
      for await (const t of cancelled) {
        if (t.token !== undefined && ++seen === 5) {
          blocksWhileRunning = model.decoder.kvStats().usedBlocks;
          controller.abort();
        }
      }
    })();
    await expect(watch).rejects.toThrow(/abort/i);
    const used = model.decoder.kvStats().usedBlocks;
    // LONG's ~100 prompt tokens took at least 7 blocks; they are free before `kept` ends.
    expect(blocksWhileRunning - used).toBeGreaterThanOrEqual(6);
    const r = await kept.result;
    expect(r.tokens).toHaveLength(40);
    model.closeSession('kept');
    model.closeSession('cancelled');
  });

  it('interactive generations are fed before background ones', async () => {
    const log: string[] = [];
    const background = track(log, 'bg', LONG, {
      maxTokens: 2,
      session: 'bg',
      priority: 'background',
    });
    const interactive = track(log, 'ui', LONG + 'again', { maxTokens: 2, session: 'ui' });
    await Promise.all([background, interactive]);
    expect(log[0]).toBe('ui');
    model.closeSession('bg');
    model.closeSession('ui');
  });

  it('more sessions than sequences: the extra one waits for a free sequence, then runs', async () => {
    // The default session holds sequence 0; three more fit, a fourth waits.
    const log: string[] = [];
    const runs = ['a', 'b', 'c', 'd'].map((name) =>
      track(log, name, `Hello ${name}`, { maxTokens: 6, session: name }),
    );
    const results = await Promise.all(runs);
    for (const { tokens } of results) expect(tokens).toHaveLength(6);
    // d started once a, b or c had finished and given its sequence back.
    const firstDone = Math.min(...['a', 'b', 'c'].map((name) => log.lastIndexOf(name)));
    expect(log.indexOf('d')).toBeGreaterThan(firstDone);
    expect(model.stats()).toMatchObject({ waiting: 0, running: 0, sessions: 4 });
  });
});

describe('continueSession', () => {
  it('a long conversation feeds each turn only its own tokens, through the window, as a full render would', async () => {
    const windowed = await LanguageModel.load(gpu, bytesSource(bytes), {
      window: { window: 64, sinks: 4 },
      maxBatch: 32,
      sequences: 2,
    });
    try {
      const transcript: { role: 'system' | 'user' | 'assistant'; content: string }[] = [
        { role: 'system', content: 'Be brief.' },
      ];
      let prefilled = 0;
      for (let turn = 0; turn < 12; turn++) {
        const message = { role: 'user' as const, content: `Message number ${turn}.` };
        const messages = turn === 0 ? [transcript[0], message] : [message];
        const r = await windowed.generate(messages, {
          ...greedy,
          maxTokens: 3,
          session: 'chat',
          continueSession: true,
        }).result;
        transcript.push(message, { role: 'assistant', content: r.text });
        const fresh = r.timings.promptTokens - r.timings.reusedPromptTokens;
        prefilled += fresh;
        if (turn > 0) {
          // The prompt is the whole conversation; only the new turn (and its markers) ran.
          expect(fresh).toBeLessThan(60);
          expect(r.timings.reusedPromptTokens).toBeGreaterThan(0);
        }
        // The text fed is what a full render of the conversation gives (token for token but
        // where the model wrote bytes that are not UTF-8: the cache keeps its own tokens, a
        // render has U+FFFD's).
        const full = windowed.promptTokens(transcript.slice(0, -1));
        const text = (ids: number[]) => windowed.tokenizer.decode(ids, { special: true });
        expect(text(r.promptTokens)).toBe(text(full));
      }
      expect(windowed.decoder.sequenceEvicted(1)).toBeGreaterThan(0);
      expect(prefilled).toBeLessThan(windowed.promptTokens(transcript).length);
    } finally {
      windowed.destroy();
    }
  });
});

describe('a session through a sliding window', () => {
  it('the next turn continues the cache after the window slid, prefilling only what is new', async () => {
    const windowed = await LanguageModel.load(gpu, bytesSource(bytes), {
      window: { window: 32, sinks: 4 },
      maxBatch: 32,
      sequences: 2,
    });
    try {
      const first = await windowed.generate(LONG, { ...greedy, maxTokens: 24, session: 'agent' })
        .result;
      const evicted = () => windowed.decoder.sequenceEvicted(1);
      const evictedAfterFirst = evicted();
      expect(evictedAfterFirst).toBeGreaterThan(0);
      // The next turn: everything so far (the last sampled token was never fed), then more.
      const more = windowed.tokenizer.encode(' and then the fox ran', { addSpecial: false });
      const history = [...first.promptTokens, ...first.tokens];
      const second = await windowed.generate([...history, ...more], {
        ...greedy,
        maxTokens: 8,
        session: 'agent',
      }).result;
      expect(second.timings.reusedPromptTokens).toBe(history.length - 1);
      expect(evicted()).toBeGreaterThanOrEqual(evictedAfterFirst);
      expect(second.tokens).toHaveLength(8);
      // A prompt that departs from the history before the window's kept part starts over.
      const other = await windowed.generate([first.promptTokens[0], ...more], {
        ...greedy,
        maxTokens: 2,
        session: 'agent',
      }).result;
      expect(other.timings.reusedPromptTokens).toBe(0);
    } finally {
      windowed.destroy();
    }
  });
});
