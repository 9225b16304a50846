import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentGpuError, DeviceLostError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { Rng } from '../util/rng.js';
import { parseGguf } from './gguf/reader.js';
import type { GgufWriteValue } from './gguf/writer.js';
import { LanguageModel } from './language-model.js';
import { tinyModel, type TinyArchitecture } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

// A seeded mutation fuzzer through the whole load (header, config, tensor checks, weights onto
// the GPU, the chat template) and two generated tokens: every case loads and generates, or fails
// with one of agentgpu's named errors; none crashes, throws a raw TypeError/RangeError, or
// hangs. LOAD_FUZZ_CASES=5000 runs more (the suite runs 300); LOAD_FUZZ_SEED picks another run.
const CASES = Number(process.env.LOAD_FUZZ_CASES ?? 300);
const SEED = Number(process.env.LOAD_FUZZ_SEED ?? 20261130);
const CASE_TIMEOUT_MS = 60_000;
/** Cases before this one are made (the generator's sequence) but not run: to replay one. */
const FROM = Number(process.env.LOAD_FUZZ_FROM ?? 0);

const ARCHITECTURES: readonly TinyArchitecture[] = ['llama', 'qwen2', 'phi3', 'gemma2'];

/** Numbers a file can state that break naive code: zero, one, powers at type edges, huge. */
const INTERESTING = [0, 1, 2, 3, 7, 31, 64, 255, 256, 1000, 4096, 65535, 2 ** 31 - 1, 2 ** 32 - 1];
const INTERESTING_FLOATS = [0, -1, 1e-30, 1e30, NaN, Infinity, -Infinity, 0.5];

/** Keys every base file states (`<arch>.` stands for its architecture). */
const INT_KEYS = [
  '<arch>.block_count',
  '<arch>.context_length',
  '<arch>.embedding_length',
  '<arch>.feed_forward_length',
  '<arch>.attention.head_count',
  '<arch>.attention.head_count_kv',
  '<arch>.attention.key_length',
  '<arch>.attention.value_length',
  '<arch>.rope.dimension_count',
  '<arch>.attention.sliding_window',
  'tokenizer.ggml.bos_token_id',
  'tokenizer.ggml.eos_token_id',
  'tokenizer.ggml.padding_token_id',
  'general.alignment',
];
const FLOAT_KEYS = [
  '<arch>.rope.freq_base',
  '<arch>.attention.layer_norm_rms_epsilon',
  '<arch>.attn_logit_softcapping',
  '<arch>.final_logit_softcapping',
];
const STRING_KEYS: Record<string, readonly string[]> = {
  'general.architecture': [
    'llama',
    'qwen2',
    'qwen3',
    'phi3',
    'gemma2',
    'gemma3',
    'exaone',
    'gpt2',
    '',
  ],
  'tokenizer.ggml.model': ['gpt2', 'llama', 'bert', 'none', ''],
  'tokenizer.ggml.pre': ['llama-bpe', 'qwen2', 'default', 'gpt-4o', 'nonsense'],
  'tokenizer.chat_template': ['{{', '{% for m in messages %}{{ m.content }}{% endfor %}', ''],
};

interface Case {
  architecture: TinyArchitecture;
  what: string;
  bytes: Uint8Array;
}

/** One mutated file: a metadata value replaced (often by one of another type), or its bytes. */
function mutate(rng: Rng, index: number): Case {
  const architecture = ARCHITECTURES[index % ARCHITECTURES.length];
  const base = {
    architecture,
    weights: (['F32', 'Q8_0', 'Q4_0'] as const)[rng.int(0, 2)],
    layers: 2,
    embedding: 64,
    feedForward: 128,
    heads: 2,
    kvHeads: 1,
    seed: index,
  };
  const kind = rng.int(0, 5);
  const key = (k: string) => k.replace('<arch>', architecture);
  if (kind <= 2) {
    // Metadata: a value of the key's own type, or of another.
    const metadata: Record<string, GgufWriteValue> = {};
    for (let n = rng.int(1, 2); n > 0; n--) {
      const pick = rng.int(0, 3);
      if (pick === 0) {
        const k = key(INT_KEYS[rng.int(0, INT_KEYS.length - 1)]);
        metadata[k] = { type: 'u32', value: INTERESTING[rng.int(0, INTERESTING.length - 1)] };
      } else if (pick === 1) {
        const k = key(FLOAT_KEYS[rng.int(0, FLOAT_KEYS.length - 1)]);
        const value = INTERESTING_FLOATS[rng.int(0, INTERESTING_FLOATS.length - 1)];
        metadata[k] = { type: 'f32', value };
      } else if (pick === 2) {
        const keys = Object.keys(STRING_KEYS);
        const k = keys[rng.int(0, keys.length - 1)];
        metadata[k] = {
          type: 'string',
          value: STRING_KEYS[k][rng.int(0, STRING_KEYS[k].length - 1)],
        };
      } else {
        // A key of the wrong type: a string for a count, an array for a string, a u64.
        const k = key([...INT_KEYS, ...Object.keys(STRING_KEYS)][rng.int(0, INT_KEYS.length + 3)]);
        const wrong: GgufWriteValue[] = [
          { type: 'string', value: '12' },
          { type: 'f32', value: 2.5 },
          { type: 'array', of: 'u32', value: [1, 2] },
          { type: 'u64', value: 2n ** 40n },
          { type: 'i32', value: -1 },
          { type: 'bool', value: true },
        ];
        metadata[k] = wrong[rng.int(0, wrong.length - 1)];
      }
    }
    const what = Object.entries(metadata)
      .map(([k, v]) => `${k}=${v.type}:${String((v as { value: unknown }).value)}`)
      .join(', ');
    return { architecture, what, bytes: tinyModel({ ...base, metadata }).bytes };
  }
  const bytes = tinyModel(base).bytes.slice();
  const header = parseGguf(bytes).dataOffset;
  if (kind === 3) {
    // Header bytes: a few flipped, or a u32/u64 field overwritten with an interesting value.
    const at = rng.int(8, header - 8);
    if (rng.int(0, 1) === 0) {
      for (let n = rng.int(1, 4); n > 0; n--) bytes[rng.int(8, header - 1)] = rng.int(0, 255);
      return { architecture, what: `header bytes near ${at} flipped`, bytes };
    }
    const value = INTERESTING[rng.int(0, INTERESTING.length - 1)];
    new DataView(bytes.buffer).setUint32(at, value, true);
    return { architecture, what: `header u32 at ${at} = ${value}`, bytes };
  }
  if (kind === 4) {
    // Weights: bytes set to anything (NaN and Inf included: f32 0xff.., f16 0x7c..).
    for (let n = rng.int(1, 64); n > 0; n--)
      bytes[rng.int(header, bytes.length - 1)] = rng.int(0, 255);
    return { architecture, what: 'weight bytes overwritten', bytes };
  }
  const length = rng.int(0, bytes.length - 1);
  return {
    architecture,
    what: `truncated to ${length} of ${bytes.length} bytes`,
    bytes: bytes.subarray(0, length),
  };
}

type Outcome = 'generated' | string;

async function run(gpu: GpuContext, c: Case): Promise<Outcome> {
  let model: LanguageModel | undefined;
  try {
    model = await LanguageModel.load(gpu, bytesSource(c.bytes), { contextSize: 64, maxBatch: 16 });
    await model.generate('Hi', { maxTokens: 2, temperature: 0 }).result;
    return 'generated';
  } catch (error) {
    // A lost device takes every model on it down: no file may do that.
    if (error instanceof AgentGpuError && !(error instanceof DeviceLostError)) return error.name;
    throw new Error(
      `${c.architecture}, ${c.what} (${c.bytes.length} bytes): threw ${String(error)}`,
      { cause: error },
    );
  } finally {
    model?.destroy();
  }
}

describe('a seeded mutation fuzzer through LanguageModel.load and two tokens', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await acquireNodeGpu();
  });
  afterAll(() => gpu?.destroy());

  it(`${CASES} mutated files: generated, or a named error; no crash, no raw error, no hang`, async () => {
    const rng = new Rng(SEED);
    const outcomes = new Map<Outcome, number>();
    for (let i = 0; i < CASES; i++) {
      const c = mutate(rng, i);
      if (i < FROM) continue;
      if (process.env.LOAD_FUZZ_TRACE && i % 100 === 0) {
        console.log(`case ${i}: rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`${c.architecture}, ${c.what}: no answer in ${CASE_TIMEOUT_MS} ms`)),
          CASE_TIMEOUT_MS,
        );
      });
      try {
        const outcome = await Promise.race([run(gpu, c), hang]);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      } finally {
        clearTimeout(timer);
      }
    }
    const counts = Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1]));
    console.log(`load fuzz, seed ${SEED}, ${CASES} cases:`, counts);
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(CASES - FROM);
    // Both sides are reached: files that still run, and files refused by name.
    expect(outcomes.get('generated') ?? 0).toBeGreaterThan((CASES - FROM) / 10);
    expect(outcomes.get('GgufError') ?? 0).toBeGreaterThan((CASES - FROM) / 10);
  });
});
