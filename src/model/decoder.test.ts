import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { compareToReference } from '../kernels/testing/compare.js';
import { Decoder } from './decoder.js';
import { parseGguf } from './gguf/reader.js';
import { ggmlTypes } from './gguf/types.js';
import type { QuantName } from '../quant/index.js';
import { tinyModel, type TinyArchitecture, type TinyModelOptions } from './testing/tiny-model.js';
import { tokenizerFromGguf } from './tokenizer/index.js';
import { bytesSource } from './weights.js';

// The golden check, for each architecture and weight format: a generated model gives llama.cpp's
// prompt tokens, and along llama.cpp's 64 greedy steps our logits stay within NMSE 1e-4 of its
// logits at every step and our argmax is its token.
//
// Ours runs teacher-forced on llama.cpp's tokens, so every step's logits are compared (not only
// the prompt's last) and one early difference cannot hide the rest. Where llama.cpp's top two
// logits are closer than NEAR_TIE (in units of that step's logit RMS), its own choice rests on
// last-bit arithmetic and a different argmax is counted, not failed; none occurs on these models.

const dir = mkdtempSync(join(tmpdir(), 'agentgpu-decoder-'));
let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
});
afterAll(() => {
  gpu?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const PROMPT = 'The quick brown fox jumps over the lazy dog. Hello, world!';
const STEPS = 64;
const LOGITS_NMSE = 1e-4;
const NEAR_TIE = 1e-3;

interface Steps {
  prompt: number[];
  /** The greedy token of each step. */
  tokens: number[];
  /** (STEPS, vocab): the logits each token was chosen from. */
  logits: Float32Array[];
}

async function llamaCpp(path: string, vocabSize: number, steps: number): Promise<Steps> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never' });
  const model = await llama.loadModel({ modelPath: path });
  try {
    const prompt = model.tokenize(PROMPT, false).map(Number);
    const ids =
      model.tokens.shouldPrependBosToken && model.tokens.bos !== null
        ? [Number(model.tokens.bos), ...prompt]
        : prompt;
    const context = await model.createContext({
      contextSize: 256,
      // One thread: llama.cpp's threads spin, and two of them on two cores beside Dawn crawl.
      threads: 1,
      // f32 K/V and the plain attention path: llama.cpp's f16 cache rounds K and V.
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    try {
      // Greedy token by token, each argmax fed back: evaluate() would stop at an
      // end-of-generation token, and the check wants every step.
      const sequence = context.getSequence();
      const next = { generateNext: { token: true, logits: true, options: { temperature: 0 } } };
      const items = ids.map((t, i) => (i === ids.length - 1 ? ([t, next] as const) : t));
      const tokens: number[] = [];
      const logits: Float32Array[] = [];
      let out = (await sequence.controlledEvaluate(items as never))[ids.length - 1]!.next;
      for (;;) {
        const row = new Float32Array(vocabSize);
        for (const [token, value] of out.logits ?? []) row[Number(token)] = value;
        logits.push(row);
        tokens.push(Number(out.token));
        if (tokens.length === steps) break;
        out = (await sequence.controlledEvaluate([[tokens[tokens.length - 1], next]] as never))[0]!
          .next;
      }
      return { prompt: ids, tokens, logits };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** Ours along `forced`, llama.cpp's tokens: each step's logits and argmax. */
async function ours(bytes: Uint8Array, forced: number[], on = gpu): Promise<Steps> {
  const tokenizer = tokenizerFromGguf(parseGguf(bytes).metadata);
  const prompt = tokenizer.encode(PROMPT);
  const decoder = await Decoder.load(on, bytesSource(bytes), {
    contextSize: 256,
    maxBatch: 64,
    kv: 'f32',
  });
  try {
    const tokens: number[] = [];
    const logits: Float32Array[] = [];
    await decoder.forward(prompt);
    for (let step = 0; ; step++) {
      logits.push(await decoder.logits());
      tokens.push(await decoder.argmax());
      if (step === forced.length - 1) break;
      await decoder.forward([forced[step]]);
    }
    return { prompt, tokens, logits };
  } finally {
    decoder.destroy();
  }
}

/** How far the logit of `token` is below the top one, in units of the logits' RMS. */
function marginBelowTop(logits: Float32Array, token: number): number {
  let top = -Infinity;
  let squares = 0;
  for (const v of logits) {
    top = Math.max(top, v);
    squares += v * v;
  }
  return (top - logits[token]) / Math.sqrt(squares / logits.length);
}

/**
 * Our steps against llama.cpp's: the same prompt tokens, every step's logits within
 * LOGITS_NMSE, and our argmax its token except at near ties.
 */
function expectSameSteps(label: string, mine: Steps, reference: Steps): void {
  expect(mine.prompt).toEqual(reference.prompt);
  const prompt = compareToReference(mine.logits[0], reference.logits[0], LOGITS_NMSE);
  let worst = prompt;
  const nearTies: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const logits = compareToReference(mine.logits[step], reference.logits[step], LOGITS_NMSE);
    expect(logits.nonFinite, `step ${step}`).toBe(0);
    expect(logits.nmse, `logits NMSE at step ${step}`).toBeLessThanOrEqual(LOGITS_NMSE);
    if (logits.nmse > worst.nmse) worst = logits;
    if (mine.tokens[step] !== reference.tokens[step]) {
      const margin = marginBelowTop(reference.logits[step], mine.tokens[step]);
      expect(margin, `step ${step}: llama.cpp chose ${reference.tokens[step]}`).toBeLessThan(
        NEAR_TIE,
      );
      nearTies.push(step);
    }
  }
  console.log(
    `${label}: prompt logits NMSE ${prompt.nmse.toExponential(2)}, ` +
      `worst step ${worst.nmse.toExponential(2)} (max |err| ${worst.maxAbsError.toExponential(2)}), ` +
      `${new Set(reference.tokens).size} distinct tokens, near ties at [${nearTies.join(', ')}]`,
  );
}

// Float weights on the models as generated. Quantized weights on models whose residual branches
// (attn_output, ffn_down) are drawn at a tenth of the scale, and untied: 8-bit matmul inputs
// turn any last-bit difference into a rounding flip, and on the unscaled models the flips
// cascade through the layers so far that llama.cpp's own two attention paths (flash and plain)
// part by 2e-4..5e-4 NMSE and diverge within 64 greedy steps on 7 of the 12 quantized models.
// With small residual branches a flip stays local: llama.cpp agrees with itself to <= 5e-5
// (seeds 1..3), and a flip still shows, as ~1e-5 against the 1e-14 of steps without one.
const FLOAT_FORMATS = ['F32', 'F16'] as const;
const QUANT_FORMATS = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const;
// A weight decode is the same on every architecture: llama meets every format, qwen2 and qwen3
// one of each kind (their twins below add Q5_0, Q6_K and the rest of their Q4_K_M mixes).
const LATER_FORMATS = ['Q5_0', 'IQ4_NL', 'Q4_1', 'Q5_1', 'Q2_K', 'Q3_K', 'IQ4_XS'] as const;
const cases: [TinyArchitecture, QuantName][] = [
  ...[...FLOAT_FORMATS, ...QUANT_FORMATS, ...LATER_FORMATS].map(
    (f): [TinyArchitecture, QuantName] => ['llama', f],
  ),
  ...(['qwen2', 'qwen3'] as const).flatMap((a) =>
    (['F32', 'Q8_0', 'Q4_K'] as const).map((f): [TinyArchitecture, QuantName] => [a, f]),
  ),
];

describe('decoding matches llama.cpp', () => {
  for (const [architecture, weights] of cases) {
    const float = (FLOAT_FORMATS as readonly string[]).includes(weights);
    it(`${architecture} ${weights} (2 layers)`, async () => {
      const { bytes, vocab } = tinyModel({
        architecture,
        weights,
        layers: 2,
        tiedEmbeddings: float && architecture === 'qwen3',
        residualScale: float ? 1 : 0.1,
      });
      const path = join(dir, `${architecture}-${weights}.gguf`);
      writeFileSync(path, bytes);
      const reference = await llamaCpp(path, vocab.length, STEPS);
      expectSameSteps(`${architecture} ${weights}`, await ours(bytes, reference.tokens), reference);
    });
  }
});

// The kernels a hardware adapter takes (tuning.ts): the matvec's 8-bit integer products with x
// rounded once per workgroup (q8_k too) and long rows over several subgroups, the 64-wide GEMM
// rounding x to q8_0 or q8_k as it stages it and multiplying integers, attention split to fill
// a GPU. Run on SwiftShader: nothing else in the suite checks them end to end against llama.cpp.
describe('the hardware kernel choices match llama.cpp', () => {
  let hardware: GpuContext;
  beforeAll(async () => {
    hardware = await acquireNodeGpu({ tuneFor: 'hardware' });
  });
  afterAll(() => hardware?.destroy());
  for (const weights of ['Q4_0', 'Q4_K'] as const) {
    it(`llama ${weights} (2 layers)`, async () => {
      expect(hardware.facts.software).toBe(false);
      const { bytes, vocab } = tinyModel({ weights, layers: 2, residualScale: 0.1 });
      const path = join(dir, `hardware-${weights}.gguf`);
      writeFileSync(path, bytes);
      const reference = await llamaCpp(path, vocab.length, STEPS);
      const mine = await ours(bytes, reference.tokens, hardware);
      expectSameSteps(`llama ${weights} as on hardware`, mine, reference);
      const names = hardware.pipelines.names();
      const input = weights === 'Q4_0' ? 'inq80' : 'inq8k';
      expect(names).toContainEqual(expect.stringMatching(`^matvec_.*_${input}_idot_xs\\d+_`));
      expect(names).toContainEqual(expect.stringMatching(`^gemm_.*_t64_${input}_idot$`));
      // ffn_down's 512-value rows: two subgroups a lane group.
      const twoSubgroups = `_r${2 * hardware.facts.subgroupMinSize}_`;
      expect(names).toContainEqual(expect.stringMatching(`^matvec_.*${twoSubgroups}`));
      // Q4_K's weights read 16 bytes a load.
      if (weights === 'Q4_K') {
        expect(names).toContainEqual(expect.stringMatching(/^matvec_q4_k_.*_idot_xs\d+_w16_/));
      }
    });
  }
});

// Structural twins of the files models.json offers (and of Llama-3.2-1B and Mistral-7B), two
// layers deep, each in Q8_0 and in llama.cpp's Q4_K_M mix (the suite runs one of the two, see
// suiteTwins): the real widths, heads, head dims, ff, RoPE settings, tokenizer model and pre,
// and tensor types, wider models cut to fewer heads at their ratios and large vocabularies cut
// to 32,000 where the name says so, for the suite's time. Qwen2.5-0.5B's Q4_K_M keeps its
// 151,936-row vocabulary, tied.
describe('files shaped like the demo models match llama.cpp', () => {
  // llama.cpp's Q4_K_M on rows that are not whole 256-value blocks (576, 896 and 960 wide): the
  // quantizer falls back to Q5_0 for Q4_K and to Q8_0 for Q6_K (the tied embedding, the first
  // layer's v); ffn_down's longer rows keep their K-quants (Q6_K in the first layer).
  const narrowQ4KM: TinyModelOptions['tensorType'] = (name, layer) =>
    name === 'token_embd.weight' || (name.endsWith('attn_v.weight') && layer === 0)
      ? 'Q8_0'
      : name.endsWith('ffn_down.weight')
        ? layer === 0
          ? 'Q6_K'
          : 'Q4_K'
        : undefined;
  const qwen25: TinyModelOptions = {
    architecture: 'qwen2',
    embedding: 896,
    heads: 14,
    kvHeads: 2,
    feedForward: 4864,
    vocabSize: 151936,
    tiedEmbeddings: true,
    residualScale: 0.1,
  };
  const smollm: TinyModelOptions = {
    architecture: 'llama',
    embedding: 576,
    heads: 9,
    kvHeads: 3,
    feedForward: 1536,
    vocabSize: 49152,
    pre: 'smollm',
    addBos: 'unset',
    tiedEmbeddings: true,
    ropeBase: 100000,
    residualScale: 0.1,
  };
  const shapes: [string, TinyModelOptions][] = [
    ['Qwen2.5-0.5B-Instruct Q4_K_M', { ...qwen25, weights: 'Q5_0', tensorType: narrowQ4KM }],
    [
      'Qwen2.5-0.5B-Instruct Q8_0, cut vocabulary',
      { ...qwen25, weights: 'Q8_0', vocabSize: 32000 },
    ],
    ['SmolLM2-135M-Instruct Q8_0', { ...smollm, weights: 'Q8_0' }],
    ['SmolLM2-135M-Instruct Q4_K_M', { ...smollm, weights: 'Q5_0', tensorType: narrowQ4KM }],
  ];
  // SmolLM2-360M: 960 wide, 15 heads of 64 over 5, ff 2560 (whole K-quant blocks, unlike the
  // trunk's rows), 49,152 tokens, tied.
  const smollm360: TinyModelOptions = {
    ...smollm,
    embedding: 960,
    heads: 15,
    kvHeads: 5,
    feedForward: 2560,
  };
  // llama.cpp's Q4_K_M for a model with tied embeddings: the embedding as the output's Q6_K,
  // the first layer's v and down Q6_K, the rest Q4_K; untied, output.weight takes the Q6_K.
  const tiedQ4KM: TinyModelOptions['tensorType'] = (name, layer) =>
    name === 'token_embd.weight' ||
    name === 'output.weight' ||
    (layer === 0 && (name.endsWith('attn_v.weight') || name.endsWith('ffn_down.weight')))
      ? 'Q6_K'
      : undefined;
  // Qwen2.5-1.5B's heads (128 wide, 6 over 1 of its 12 over 2: the trunk cut to 768) with q/k/v
  // biases, ff cut to 4352 (whole K-quant blocks, as its 8960 is; its ratio 5.8 kept near), tied;
  // the vocabulary cut to 32,000.
  const qwen15: TinyModelOptions = {
    ...qwen25,
    embedding: 768,
    heads: 6,
    kvHeads: 1,
    headDim: 128,
    feedForward: 4352,
    vocabSize: 32000,
  };
  // Llama-3.2-1B's heads (16 of its 32 over 4 of 8, 64 wide: a 1024 trunk, ff 4096 at its
  // ratio of 4), its Llama 3.1 RoPE scaling as rope_freqs (factor 32, 1, 4, 8192, base 500,000),
  // tied; the 128,256-token vocabulary cut to 32,000.
  const llama32: TinyModelOptions = {
    architecture: 'llama',
    embedding: 1024,
    heads: 16,
    kvHeads: 4,
    feedForward: 4096,
    vocabSize: 32000,
    tiedEmbeddings: true,
    llama3Rope: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, original: 8192 },
    residualScale: 0.1,
  };
  // Mistral-7B (v0.2) as llama.cpp reads it, a llama file: 128-wide heads, 8 of its 32 over 2
  // of 8 (a 1024 trunk), ff 3584 at its ratio of 3.5, base 1e6, untied, its 32,000-token
  // SentencePiece vocabulary.
  const mistral: TinyModelOptions = {
    architecture: 'llama',
    embedding: 1024,
    heads: 8,
    kvHeads: 2,
    feedForward: 3584,
    vocabSize: 32000,
    tokenizer: 'spm',
    ropeBase: 1e6,
    residualScale: 0.1,
  };
  // EXAONE-3.5-2.4B-Instruct: 80-wide heads (16 of its 32 over 4 of 8: a 1280 trunk, ff 3584 at
  // its ratio of 2.8), Llama 3.1 RoPE scaling (factor 8) at base 1e6, tied, pre exaone; the
  // 102,400-token vocabulary cut to 32,000.
  const exaone: TinyModelOptions = {
    architecture: 'exaone',
    embedding: 1280,
    heads: 16,
    kvHeads: 4,
    feedForward: 3584,
    vocabSize: 32000,
    tiedEmbeddings: true,
    ropeBase: 1e6,
    llama3Rope: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, original: 8192 },
    specials: {
      tokens: [
        '[PAD]',
        '[BOS]',
        '[EOS]',
        '[UNK]',
        '[|system|]',
        '[|user|]',
        '[|assistant|]',
        '[|endofturn|]',
      ],
      bos: '[BOS]',
      eos: '[|endofturn|]',
      pre: 'exaone',
    },
    residualScale: 0.1,
  };
  shapes.push(
    ['EXAONE-3.5-2.4B-Instruct Q8_0, cut to 16 heads', { ...exaone, weights: 'Q8_0' }],
    [
      'EXAONE-3.5-2.4B-Instruct Q4_K_M, cut to 16 heads',
      { ...exaone, weights: 'Q4_K', tensorType: tiedQ4KM },
    ],
    ['SmolLM2-360M-Instruct Q8_0', { ...smollm360, weights: 'Q8_0' }],
    ['SmolLM2-360M-Instruct Q4_K_M', { ...smollm360, weights: 'Q5_0', tensorType: narrowQ4KM }],
    ['Qwen2.5-1.5B-Instruct Q8_0, cut to 6 heads', { ...qwen15, weights: 'Q8_0' }],
    [
      'Qwen2.5-1.5B-Instruct Q4_K_M, cut to 6 heads',
      { ...qwen15, weights: 'Q4_K', tensorType: tiedQ4KM },
    ],
    ['Llama-3.2-1B-Instruct Q8_0, cut to 16 heads', { ...llama32, weights: 'Q8_0' }],
    [
      'Llama-3.2-1B-Instruct Q4_K_M, cut to 16 heads',
      { ...llama32, weights: 'Q4_K', tensorType: tiedQ4KM },
    ],
    ['Mistral-7B-Instruct-v0.2 Q8_0, cut to 8 heads', { ...mistral, weights: 'Q8_0' }],
    [
      'Mistral-7B-Instruct-v0.2 Q4_K_M, cut to 8 heads',
      { ...mistral, weights: 'Q4_K', tensorType: tiedQ4KM },
    ],
  );
  // Phi-3.5-mini's head (96 wide, q, k and v fused, gate and up fused, LongRoPE with its attn
  // factor) and its 32,064-token SentencePiece vocabulary, cut to 8 of its 32 heads and to
  // 2048 of its 8192 feed-forward rows. In Q8_0 with the short factors (a 256-token context
  // inside its 4096), and in llama.cpp's Q4_K_M mix (attn_qkv Q5_K, the first ffn_down Q6_K)
  // with the long ones (an original context of 128).
  const phi3: TinyModelOptions = {
    architecture: 'phi3',
    embedding: 768,
    heads: 8,
    kvHeads: 8,
    feedForward: 2048,
    vocabSize: 32064,
    tokenizer: 'spm',
    residualScale: 0.1,
  };
  // Gemma-2-2B's heads (256 wide, 4 of its 8 over 2 of its 4 kv heads, so q is wider than the
  // 512-wide trunk, as Gemma's 2048-wide q is wider than its 2304), its soft-capping, GeGLU and
  // post-norms, with an 8-key window on the local layers so the prompt crosses it;
  // its 256,000-token vocabulary cut to 32,000 for the suite's time.
  const gemma2: TinyModelOptions = {
    architecture: 'gemma2',
    embedding: 512,
    heads: 4,
    kvHeads: 2,
    headDim: 256,
    feedForward: 2048,
    vocabSize: 32000,
    tokenizer: 'spm',
    slidingWindow: 8,
    tiedEmbeddings: true,
    residualScale: 0.5,
  };
  // Gemma-3-1B's heads (4 of 256 over one kv head), q/k norms and two RoPEs (local layers at
  // base 10000, global at 1e6), every other layer global (the file's sliding_window_pattern) so
  // two layers hold both kinds, an 8-key window; cut to a 512-wide trunk, about half its 6912
  // feed-forward rows and a 32,000-token vocabulary.
  const gemma3: TinyModelOptions = {
    ...gemma2,
    architecture: 'gemma3',
    heads: 4,
    kvHeads: 1,
    feedForward: 3584,
    slidingWindowPattern: 2,
  };
  // Qwen3-0.6B: 16 heads of 128 over 8 kv heads on a 1024-wide trunk (q is twice the width),
  // per-head q/k norms, ff 3072, tied; its 151,936-token vocabulary cut to 32,000.
  const qwen3: TinyModelOptions = {
    architecture: 'qwen3',
    embedding: 1024,
    heads: 16,
    kvHeads: 8,
    headDim: 128,
    feedForward: 3072,
    vocabSize: 32000,
    tiedEmbeddings: true,
    residualScale: 0.1,
  };
  shapes.push(
    ['Qwen3-0.6B Q8_0, cut vocabulary', { ...qwen3, weights: 'Q8_0' }],
    ['Qwen3-0.6B Q4_K_M, cut vocabulary', { ...qwen3, weights: 'Q4_K', tensorType: tiedQ4KM }],
    ['Gemma-3-1B-it Q8_0, cut', { ...gemma3, weights: 'Q8_0' }],
    ['Gemma-3-1B-it Q4_K_M, cut', { ...gemma3, weights: 'Q4_K', tensorType: tiedQ4KM }],
    ['Gemma-2-2B-it Q8_0, cut to 4 heads', { ...gemma2, weights: 'Q8_0' }],
    ['Gemma-2-2B-it Q4_K_M, cut to 4 heads', { ...gemma2, weights: 'Q4_K', tensorType: tiedQ4KM }],
    ['Phi-3.5-mini-instruct Q8_0, cut to 8 heads', { ...phi3, weights: 'Q8_0' }],
    [
      'Phi-3.5-mini-instruct Q4_K_M, cut to 8 heads, long RoPE factors',
      {
        ...phi3,
        weights: 'Q4_K',
        originalContext: 128,
        tensorType: (name, layer) =>
          name.endsWith('attn_qkv.weight')
            ? 'Q5_K'
            : name === 'output.weight' || (name.endsWith('ffn_down.weight') && layer === 0)
              ? 'Q6_K'
              : undefined,
      },
    ],
  );
  // 4 steps in the suite (a step costs a twin ~0.5 s on SwiftShader: 64 would add ~11 minutes
  // over the twins; the format checks above run 64 at small shapes; 8 took ~20 s more).
  // TWIN_STEPS=64 runs the full length, with time to match: every twin stayed within 1.5e-5
  // NMSE of llama.cpp.
  const TWIN_STEPS = Number(process.env.TWIN_STEPS ?? 4);
  const timeout = Math.max(120_000, TWIN_STEPS * 10_000);
  // One format a twin in the suite (each twin ~10 s here): the file models.json offers, and for
  // the four it does not, Q4_K_M for two and Q8_0 for two, so every architecture and mix still
  // runs. TWIN_FORMATS=all runs both formats of every twin.
  const suiteTwins = new Set([
    'Qwen2.5-0.5B-Instruct Q4_K_M',
    'SmolLM2-135M-Instruct Q8_0',
    'Qwen3-0.6B Q8_0, cut vocabulary',
    'Gemma-3-1B-it Q4_K_M, cut',
    'Gemma-2-2B-it Q4_K_M, cut to 4 heads',
    'Phi-3.5-mini-instruct Q4_K_M, cut to 8 heads, long RoPE factors',
    'EXAONE-3.5-2.4B-Instruct Q4_K_M, cut to 16 heads',
    'SmolLM2-360M-Instruct Q4_K_M',
    'Qwen2.5-1.5B-Instruct Q8_0, cut to 6 heads',
    'Llama-3.2-1B-Instruct Q4_K_M, cut to 16 heads',
    'Mistral-7B-Instruct-v0.2 Q8_0, cut to 8 heads',
  ]);
  const everyTwin = process.env.TWIN_FORMATS === 'all';
  it('the suite runs one format of every twin', () => {
    const missing = [...suiteTwins].filter((n) => !shapes.some(([name]) => name === n));
    expect(missing).toEqual([]);
    const models = new Set(shapes.map(([name]) => name.split(' ')[0]));
    expect(new Set([...suiteTwins].map((n) => n.split(' ')[0]))).toEqual(models);
  });
  for (const [name, options] of shapes.filter(([n]) => everyTwin || suiteTwins.has(n))) {
    it(`${name} (2 layers)`, { timeout }, async () => {
      const { bytes } = tinyModel({ ...options, layers: 2 });
      const file = parseGguf(bytes);
      const path = join(dir, `${name.replace(/\W+/g, '-')}.gguf`);
      writeFileSync(path, bytes);
      const vocabSize = options.vocabSize!;
      const steps = TWIN_STEPS;
      const reference = await llamaCpp(path, vocabSize, steps);
      const mine = await ours(bytes, reference.tokens);
      expect(mine.prompt).toEqual(reference.prompt);
      let worst = 0;
      for (let step = 0; step < steps; step++) {
        const logits = compareToReference(mine.logits[step], reference.logits[step], LOGITS_NMSE);
        expect(logits.nmse, `logits NMSE at step ${step}`).toBeLessThanOrEqual(LOGITS_NMSE);
        worst = Math.max(worst, logits.nmse);
      }
      const types = new Set(file.tensors.map((t) => ggmlTypes.get(t.type)?.name));
      console.log(
        `${name}: tensor types ${[...types].join(', ')}; worst logits NMSE ${worst.toExponential(2)}`,
      );
    });
  }
});

describe('tensor types agentgpu does not run', () => {
  it('fail at load, naming the tensor and its type', async () => {
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'Q8_0', layers: 1 });
    // Tensor info: name, n_dims (u32), dims (u64 each), type (u32): MXFP4's blocks (32 values
    // in 17 bytes) fit where Q8_0's were.
    const name = 'blk.0.attn_q.weight';
    const at = Buffer.from(bytes).indexOf(name) + name.length;
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    view.setUint32(at + 4 + 8 * view.getUint32(at, true), 39, true);
    await expect(Decoder.load(gpu, bytesSource(bytes))).rejects.toThrow(
      /tensor "blk.0.attn_q.weight" type.*MXFP4 weights are not supported yet \(supported: F32, .*Q5_1.*\)/,
    );
  });
});

// Inputs rounded as llama.cpp rounds them for 8-bit dot products (quant/dot-input.ts): on a
// one-layer llama, where llama.cpp's CPU takes its plain dot-product path, the logits agree to
// f32 rounding, where exact f32 inputs would be ~1e-4 away.
describe("matmul inputs rounded as llama.cpp's", () => {
  for (const weights of [
    'Q8_0',
    'Q5_0',
    'IQ4_NL',
    'Q4_1',
    'Q5_1',
    'Q2_K',
    'Q3_K',
    'Q4_K',
    'IQ4_XS',
  ] as const) {
    it(`llama ${weights} (1 layer)`, async () => {
      const { bytes, vocab } = tinyModel({ architecture: 'llama', weights, layers: 1 });
      const path = join(dir, `llama-${weights}-1.gguf`);
      writeFileSync(path, bytes);
      const reference = await llamaCpp(path, vocab.length, 1);
      const mine = await ours(bytes, reference.tokens);
      const logits = compareToReference(mine.logits[0], reference.logits[0], 1e-9);
      console.log(`llama ${weights} (1 layer): logits NMSE ${logits.nmse.toExponential(2)}`);
      expect(logits.passed).toBe(true);
    });
  }
  // Gemma 2's and 3's layers as llama.cpp computes them, to f32 rounding: GELU through its f16
  // table, the scores soft-capped (2), the q/k norms and the local layers' own RoPE (3), the
  // post-norms, the embedding scale and the logits' soft-capping (2); local (a 4-key window) as
  // a first layer is.
  for (const architecture of ['gemma2', 'gemma3'] as const) {
    it(`${architecture} Q8_0 (1 layer)`, async () => {
      const { bytes, vocab } = tinyModel({
        architecture,
        weights: 'Q8_0',
        layers: 1,
        headDim: 128,
        slidingWindow: 4,
        tiedEmbeddings: true,
      });
      const path = join(dir, `${architecture}-Q8_0-1.gguf`);
      writeFileSync(path, bytes);
      const reference = await llamaCpp(path, vocab.length, 1);
      const mine = await ours(bytes, reference.tokens);
      const logits = compareToReference(mine.logits[0], reference.logits[0], 1e-9);
      console.log(`${architecture} Q8_0 (1 layer): logits NMSE ${logits.nmse.toExponential(2)}`);
      expect(logits.passed).toBe(true);
    });
  }
});

// The fallback embedding of long-term memory (no ONNX model configured): the agent's own model's
// final-norm hidden states, mean-pooled, as llama.cpp pools them for a model whose metadata says
// `pooling_type = mean`. Both sides are L2-normalized before they are compared.
describe('mean-pooled embeddings match llama.cpp', () => {
  for (const architecture of ['llama', 'qwen2'] as const) {
    it(`${architecture} F32`, async () => {
      const { bytes } = tinyModel({ architecture, weights: 'F32', pooling: 1 });
      const path = join(dir, `${architecture}-pooled.gguf`);
      writeFileSync(path, bytes);
      const texts = ['Remember this: my locker combination is 4812.', 'Trains leave at noon.'];
      const { getLlama } = await import('node-llama-cpp');
      const llama = await getLlama({ gpu: false, build: 'never' });
      const model = await llama.loadModel({ modelPath: path });
      const theirs: { tokens: number[]; vector: Float32Array }[] = [];
      try {
        const context = await model.createEmbeddingContext({ contextSize: 256, threads: 1 });
        for (const text of texts) {
          const tokens = model.tokenize(text, false).map(Number);
          const bos = model.tokens.bos;
          const ids =
            model.tokens.shouldPrependBosToken && bos !== null ? [Number(bos), ...tokens] : tokens;
          const e = await context.getEmbeddingFor(text);
          theirs.push({ tokens: ids, vector: normalized(Float32Array.from(e.vector)) });
        }
        await context.dispose();
      } finally {
        await model.dispose();
      }
      // Steps of 8 tokens: the texts run in several chunks.
      const decoder = await Decoder.load(gpu, bytesSource(bytes), {
        contextSize: 256,
        maxBatch: 8,
        kv: 'f32',
      });
      try {
        for (const [i, { tokens, vector }] of theirs.entries()) {
          expect(tokens.length).toBeGreaterThan(8);
          const mine = await decoder.embed(tokens);
          const result = compareToReference(mine, vector, 1e-6);
          console.log(`${architecture} embedding ${i}: NMSE ${result.nmse.toExponential(2)}`);
          expect(result.passed, texts[i]).toBe(true);
        }
        // The embedding's sequence is gone: the cache holds nothing.
        expect(decoder.kvStats().usedBlocks).toBe(0);
      } finally {
        decoder.destroy();
      }
    });
  }
});

function normalized(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}
