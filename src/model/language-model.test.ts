import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import type { DecoderLoadProgress } from './decoder.js';
import { LanguageModel } from './language-model.js';
import { parseGguf } from './gguf/reader.js';
import type { JsonSchema } from './grammar/json-schema.js';
import { tinyModel } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

// The in-thread generation API on a generated qwen2 model: greedy tokens as llama.cpp's
// completion, seeded sampling, penalties, stop strings, limits, chat prompts, abort.

const dir = mkdtempSync(join(tmpdir(), 'agentgpu-generate-'));
const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'F32', seed: 7 });
const path = join(dir, 'tiny-qwen2.gguf');
writeFileSync(path, bytes);
const PROMPT = 'Once upon a time, the quick brown fox';

let gpu: GpuContext;
let model: LanguageModel;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
  model = await LanguageModel.load(gpu, bytesSource(bytes), {
    contextSize: 256,
    maxBatch: 32,
    kv: 'f32',
  });
});
afterAll(() => {
  model?.destroy();
  gpu?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function collect(generation: ReturnType<LanguageModel['generate']>) {
  const pieces: string[] = [];
  const tokens: number[] = [];
  for await (const t of generation) {
    pieces.push(t.text);
    if (t.token !== undefined) tokens.push(t.token);
  }
  return { pieces, tokens, result: await generation.result };
}

describe('LanguageModel.load', () => {
  it('reports its upload, then every kernel it compiles, each only growing to its total', async () => {
    const seen: DecoderLoadProgress[] = [];
    const loaded = await LanguageModel.load(gpu, bytesSource(bytes), {
      contextSize: 64,
      maxBatch: 16,
      onLoadProgress: (p) => seen.push(p),
    });
    try {
      const upload = seen.filter((p) => p.phase === 'upload');
      const compile = seen.filter((p) => p.phase === 'compile');
      expect(seen.indexOf(compile[0])).toBe(upload.length); // every upload report comes first
      for (const reports of [upload, compile]) {
        expect(reports.length).toBeGreaterThan(3);
        for (let i = 1; i < reports.length; i++) {
          expect(reports[i].loaded).toBeGreaterThan(reports[i - 1].loaded);
          expect(reports[i].total).toBe(reports[0].total);
        }
        expect(reports.at(-1)!.loaded).toBe(reports[0].total);
      }
      // Every weight byte (norms widened to f32 included), and one report per kernel built.
      expect(upload.at(-1)!.total).toBe(loaded.decoder.memory.weights);
      expect(compile.map((p) => p.loaded)).toEqual(compile.map((_, i) => i + 1));
    } finally {
      loaded.destroy();
    }
  });
});

describe('LanguageModel.generate', () => {
  it("greedy: llama.cpp's tokens and text, streamed and in the result, with timings", async () => {
    const { getLlama, LlamaCompletion } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: false, build: 'never' });
    const reference = await llama.loadModel({ modelPath: path });
    const context = await reference.createContext({ contextSize: 256, threads: 1 });
    const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
    const expected = await completion.generateCompletion(PROMPT, {
      maxTokens: 24,
      temperature: 0,
    });
    await context.dispose();
    await reference.dispose();

    // A prompt longer than maxBatch runs in chunks.
    const { pieces, tokens, result } = await collect(
      model.generate(PROMPT, { temperature: 0, maxTokens: 24 }),
    );
    expect(result.tokens.length).toBeGreaterThan(3);
    expect(pieces.join('')).toBe(result.text);
    expect(tokens).toEqual(result.tokens);
    expect(result.text).toBe(expected);
    expect(result.timings.promptTokens).toBe(result.promptTokens.length);
    expect(result.timings.prefillTokensPerSecond).toBeGreaterThan(0);
    expect(result.timings.timeToFirstTokenMs).toBeGreaterThan(0);
    if (result.tokens.length > 1) expect(result.timings.decodeTokensPerSecond).toBeGreaterThan(0);
  });

  it('a seed replays a sampled generation; another seed gives another', async () => {
    const options = { temperature: 1.5, topK: 0, topP: 1, minP: 0, maxTokens: 16 };
    const a = await model.generate(PROMPT, { ...options, seed: 11 }).result;
    const b = await model.generate(PROMPT, { ...options, seed: 11 }).result;
    const c = await model.generate(PROMPT, { ...options, seed: 12 }).result;
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('a presence penalty keeps greedy decoding off every recent token', async () => {
    const plain = await model.generate(PROMPT, { temperature: 0, maxTokens: 40 }).result;
    const penalized = await model.generate(PROMPT, {
      temperature: 0,
      maxTokens: 40,
      presencePenalty: 1000,
      penaltyLastN: 256,
      ignoreEos: true,
    }).result;
    const seen = [...penalized.promptTokens];
    for (const t of penalized.tokens) {
      expect(seen).not.toContain(t);
      seen.push(t);
    }
    expect(penalized.tokens).not.toEqual(plain.tokens);
  });

  it('maxTokens ends with "length"; a stop string ends with "stop" and is cut', async () => {
    const long = await model.generate(PROMPT, {
      temperature: 0,
      maxTokens: 12,
      ignoreEos: true,
    }).result;
    expect(long.tokens).toHaveLength(12);
    expect(long.finishReason).toBe('length');
    // Stop at the text of the fourth generated token onwards.
    const cut = long.text.slice(0, -1);
    const stop = long.text.slice(cut.length - 3, cut.length);
    const stopped = await model.generate(PROMPT, {
      temperature: 0,
      maxTokens: 12,
      ignoreEos: true,
      stop: [stop],
    }).result;
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.text).toBe(long.text.slice(0, long.text.indexOf(stop)));
  });

  it('maxTokens 0 ends at once with no tokens; a negative or fractional one is refused', async () => {
    const before = model.stats().steps;
    const none = model.generate(PROMPT, { maxTokens: 0 });
    const pieces: string[] = [];
    for await (const piece of none) pieces.push(piece.text);
    const result = await none.result;
    expect(pieces).toEqual([]);
    expect(result).toMatchObject({ tokens: [], text: '', finishReason: 'length' });
    expect(model.stats().steps).toBe(before);
    for (const maxTokens of [-1, 2.5]) {
      await expect(model.generate(PROMPT, { maxTokens }).result).rejects.toThrow(
        /maxTokens must be a whole number/,
      );
    }
  });

  it('chat messages go through the template and the generation prompt', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Hello!' },
    ];
    const prompt = model.promptTokens(messages);
    const text = model.tokenizer.decode(prompt, { special: true });
    expect(text).toBe(
      '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n',
    );
    const r = await model.generate(messages, { temperature: 0, maxTokens: 4 }).result;
    expect(r.promptTokens).toEqual(prompt);
  });

  it('an aborted generation rejects, and the model is free again', async () => {
    const controller = new AbortController();
    const generation = model.generate(PROMPT, {
      temperature: 0,
      maxTokens: 200,
      ignoreEos: true,
      signal: controller.signal,
    });
    let seen = 0;
    await expect(
      (async () => {
        for await (const t of generation) {
          void t;
          if (++seen === 3) controller.abort();
        }
      })(),
    ).rejects.toThrow(/abort/i);
    const after = await model.generate(PROMPT, { temperature: 0, maxTokens: 2 }).result;
    expect(after.tokens).toHaveLength(2);
  });

  it('a prompt longer than the context is a clear error', async () => {
    const tooLong = 'fox '.repeat(400);
    await expect(model.generate(tooLong).result).rejects.toThrow(
      /the context holds 256: shorten it/,
    );
  });

  it('an empty prompt is a RequestError (this model adds no BOS to start from)', async () => {
    for (const prompt of ['', []]) {
      const empty = model.generate(prompt, { maxTokens: 1 }).result;
      await expect(empty).rejects.toThrow(RequestError);
      await expect(empty).rejects.toThrow(/the prompt is empty: it has no tokens/);
    }
    // Sampled at the default temperature: end-of-text must not count as a lost token.
    const one = await model.generate(PROMPT, { maxTokens: 1, ignoreEos: true }).result;
    expect(one.tokens).toHaveLength(1);
  });
});

describe('prefix reuse', () => {
  it('a second turn sharing a 500-token prefix prefills only its new tokens, and matches a cold run', async () => {
    const long = tinyModel({
      architecture: 'llama',
      weights: 'Q8_0',
      seed: 8,
      contextLength: 1024,
    });
    const warm = await LanguageModel.load(gpu, bytesSource(long.bytes), { contextSize: 1024 });
    const cold = await LanguageModel.load(gpu, bytesSource(long.bytes), { contextSize: 1024 });
    try {
      const words = 'the quick brown fox jumps over the lazy dog while agents plan their day. ';
      let first = '';
      while (warm.promptTokens(first).length < 520) first += words;
      const one = await warm.generate(first, { temperature: 0, maxTokens: 8 }).result;
      expect(one.timings.reusedPromptTokens).toBe(0);
      const second = `${first}${one.text} And then, a new question for the team?`;
      const two = await warm.generate(second, { temperature: 0, maxTokens: 16 }).result;
      const { reusedPromptTokens, promptTokens } = two.timings;
      // Everything the cache held that the new prompt starts with: the first prompt and the
      // reply fed back (all but its last token), up to where the tokenizations part.
      const held = [...warm.promptTokens(first), ...one.tokens.slice(0, -1)];
      const ids = warm.promptTokens(second);
      let shared = 0;
      while (shared < held.length && held[shared] === ids[shared]) shared++;
      expect(reusedPromptTokens).toBe(shared);
      expect(reusedPromptTokens).toBeGreaterThanOrEqual(500);
      expect(promptTokens).toBe(ids.length);
      const reference = await cold.generate(second, { temperature: 0, maxTokens: 16 }).result;
      expect(reference.timings.reusedPromptTokens).toBe(0);
      expect(two.tokens).toEqual(reference.tokens);
      // Another prompt shares only the BOS token.
      const other = await warm.generate('Hello there', { temperature: 0, maxTokens: 2 }).result;
      expect(other.timings.reusedPromptTokens).toBe(1);
    } finally {
      warm.destroy();
      cold.destroy();
    }
  });
});

describe('sliding window', () => {
  it('generates past the cache, telling what left it with its text', async () => {
    const overflows: { start: number; end: number; tokens: number[]; text: string }[] = [];
    const windowed = await LanguageModel.load(gpu, bytesSource(bytes), {
      window: { window: 32, sinks: 4 },
      onOverflow: (o) => overflows.push(o),
    });
    try {
      const r = await windowed.generate(PROMPT, { temperature: 0, maxTokens: 60, ignoreEos: true })
        .result;
      expect(r.tokens).toHaveLength(60);
      expect(r.finishReason).toBe('length');
      const history = [...r.promptTokens, ...r.tokens];
      expect(overflows.length).toBeGreaterThan(0);
      for (const o of overflows) {
        expect(o.tokens).toEqual(history.slice(o.start, o.end));
        expect(o.text).toBe(windowed.tokenizer.decode(o.tokens));
      }
    } finally {
      windowed.destroy();
    }
  });
});

describe('a failing generation fails alone', () => {
  const chat = [{ role: 'user' as const, content: 'Say something.' }];

  it('refuses schemas no reply can meet, or too costly to hold it to, and keeps serving', async () => {
    const cases: [JsonSchema, RegExp][] = [
      [{ type: 'string', minLength: 10, maxLength: 2 }, /minLength 10 > maxLength 2/],
      [{ type: 'array', items: { type: 'integer' }, minItems: 1e9 }, /more than the 4096/],
      [
        Array.from({ length: 100 }).reduce<JsonSchema>(
          (inner) => ({ type: 'array', items: inner }),
          {
            type: 'null',
          },
        ),
        /nested deeper than 32 levels/,
      ],
    ];
    for (const [schema, message] of cases) {
      const generation = model.generate(chat, {
        maxTokens: 4,
        responseFormat: { type: 'json_schema', schema },
      });
      await expect(generation.result).rejects.toThrow(message);
    }
    // Sampled at the default temperature, unseeded: end-of-text may come first, so it is ignored.
    const after = await model.generate(PROMPT, { maxTokens: 3, ignoreEos: true }).result;
    expect(after.tokens).toHaveLength(3);
  });

  it('ends with a named error, not a token past the vocabulary, when the logits are NaN', async () => {
    // output_norm's first weight NaN: every logit is NaN.
    const broken = Uint8Array.from(bytes);
    const file = parseGguf(broken);
    const norm = file.tensors.find((t) => t.name === 'output_norm.weight')!;
    new DataView(broken.buffer).setFloat32(file.dataOffset + norm.offset, NaN, true);
    const nan = await LanguageModel.load(gpu, bytesSource(broken), {
      contextSize: 64,
      maxBatch: 16,
    });
    try {
      // Greedy (argmax on the GPU) and sampled (the sampler's draw) alike.
      for (const temperature of [0, 0.8]) {
        await expect(nan.generate(PROMPT, { maxTokens: 3, temperature }).result).rejects.toThrow(
          /logits are not finite \(NaN or Inf\)/,
        );
      }
      // The model still takes the next request (and fails it the same way).
      await expect(nan.generate(PROMPT, { maxTokens: 1 }).result).rejects.toThrow(/not finite/);
    } finally {
      nan.destroy();
    }
  });
});
