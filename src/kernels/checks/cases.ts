// Every kernel case the suites run: shapes, formats, fusions and edge cases, seeded.
import { Rng } from '../../util/rng.js';
import { quantFormats, type QuantName } from '../../quant/index.js';
import { type AttentionConfig, type KvShiftConfig } from '../attention.js';
import { type ElementwiseOp, type UnaryOp } from '../elementwise.js';
import { type MatvecFusion, type MatvecOptions } from '../matvec.js';
import { type GemmShape } from '../gemm.js';
import { type RopeConfig } from '../rope.js';
import { type SamplingSettings } from '../sample.js';
import { type PenaltySettings } from '../penalties.js';
import { dotInput, type DotInput } from '../../quant/dot-input.js';
import { type QkvShape } from './matvec.js';
import { type AttentionScenario } from './attention.js';

export type KernelCase =
  | {
      kernel: 'matvec';
      format: QuantName;
      /** Vectors multiplied at once (1..16). */
      batch: number;
      fusion?: MatvecFusion;
      /** gate_up's activation (default silu). */
      activation?: 'gelu';
      /** How the kernel rounds x as it loads it (default f32: not at all). */
      input?: MatvecOptions['input'];
      /** MatvecOptions.integerDot (default: the adapter's, tuning.ts). */
      integerDot?: boolean;
      /** MatvecOptions.subgroupsPerRow (default: the adapter's for the case's cols). */
      subgroupsPerRow?: number;
      /** MatvecOptions.stageX (default: the adapter's). */
      stageX?: boolean;
      /** MatvecOptions.stagedUnits (default: as many as fit). */
      stagedUnits?: number;
      /** MatvecOptions.wideLoads (default: the adapter's). */
      wideLoads?: boolean;
      /** (rows, cols) */
      shape: [number, number];
      seed: number;
    }
  | {
      kernel: 'matvec_qkv';
      format: QuantName;
      batch: number;
      bias: boolean;
      input?: MatvecOptions['input'];
      integerDot?: boolean;
      subgroupsPerRow?: number;
      stageX?: boolean;
      wideLoads?: boolean;
      qkv: QkvShape;
      cols: number;
      seed: number;
    }
  | {
      kernel: 'rms_norm' | 'argmax' | 'softmax';
      /** (rows, n) */
      shape: [number, number];
      seed: number;
    }
  | { kernel: ElementwiseOp; shape: [number]; seed: number }
  | { kernel: UnaryOp; shape: [number]; value: number; seed: number }
  | { kernel: 'rope'; shape: [number]; rope: RopeConfig; freqFactors?: boolean; seed: number }
  | { kernel: 'attention'; scenario: AttentionScenario; seed: number }
  | { kernel: 'sample'; n: number; settings: SamplingSettings; seed: number }
  | { kernel: 'dot_input'; kind: Exclude<DotInput, 'f32'>; shape: [number]; seed: number }
  | {
      kernel: 'penalties';
      /** (rows, n) */
      shape: [number, number];
      settings: PenaltySettings;
      seed: number;
    }
  | { kernel: 'kv_shift'; config: KvShiftConfig; seed: number }
  | { kernel: 'token_mask'; shape: [number, number]; seed: number }
  | {
      kernel: 'kv_write';
      config: AttentionConfig;
      /** (start, tokens) */
      shape: [number, number];
      seed: number;
    }
  | {
      kernel: 'gemm';
      format: QuantName;
      /** (m, n, k) */
      shape: [number, number, number];
      /** The entry point (GemmOptions.shape): each runs on every adapter. */
      entry: GemmShape;
      /** x rounded to q8_1 first, or as staged (GemmOptions.input; default f32). */
      input?: 'q8_1' | 'q8_0' | 'q8_k' | 'f16' | 'bf16';
      /** GemmOptions.integerDot (default: the adapter's, tuning.ts). */
      integerDot?: boolean;
      /** GemmOptions.stageF16 (default: the adapter's; needs shader-f16). */
      stageF16?: boolean;
      /**
       * Checked where a hardware adapter runs it by default, skipped on software adapters
       * (runsOn), where its code is checked at other formats and compiling it costs seconds.
       */
      hardwareOnly?: true;
      seed: number;
    }
  | {
      kernel: 'embedding';
      format: QuantName;
      /** (vocab, dim, tokens) */
      shape: [number, number, number];
      seed: number;
    };

/**
 * The formats that get every per-format case (the first ones agentgpu ran); formats added since
 * get a smaller set at the end of kernelCases, so the earlier cases keep their seeds and the
 * suite its time.
 */
export const FULL_CASE_FORMATS: readonly QuantName[] = [
  'F32',
  'F16',
  'BF16',
  'Q8_0',
  'Q4_0',
  'Q4_K',
  'Q5_K',
  'Q6_K',
];

/**
 * The fixed cases (edge sizes: 1, odd, not a multiple of the workgroup or of 32, longer than a
 * workgroup's stride) plus `random` seeded random shapes per kernel and format. The same seed
 * gives the same cases everywhere.
 */
export function kernelCases(seed = 1, random = 3): KernelCase[] {
  const rng = new Rng(seed);
  const cases: KernelCase[] = [];
  let n = 0;
  const next = () => seed * 1000 + n++;

  const denseShapes: [number, number][] = [
    [1, 1],
    [1, 7],
    [7, 13],
    [64, 256],
    [33, 1000],
    [300, 257],
    [5, 4099],
  ];
  for (const shape of denseShapes) cases.push({ kernel: 'rms_norm', shape, seed: next() });
  for (let i = 0; i < random + 3; i++) {
    cases.push({ kernel: 'rms_norm', shape: [rng.int(1, 200), rng.int(1, 3000)], seed: next() });
  }

  for (const format of FULL_CASE_FORMATS) {
    const block = Math.max(32, quantFormats[format].blockValues);
    const dense = quantFormats[format].blockValues === 1;
    const shapes: [number, number][] = dense
      ? [...denseShapes]
      : [
          [1, block],
          [7, 2 * block],
          [33, 3 * block],
          [300, block],
          [5, 17 * block],
        ];
    for (let i = 0; i < random; i++) {
      const cols =
        quantFormats[format].blockValues === 1 ? rng.int(1, 3000) : block * rng.int(1, 12);
      shapes.push([rng.int(1, 200), cols]);
    }
    for (const shape of shapes)
      cases.push({ kernel: 'matvec', format, batch: 1, shape, seed: next() });
    // Several sub-agents decoding at once: odd and full batches.
    cases.push({ kernel: 'matvec', format, batch: 3, shape: [37, 3 * block], seed: next() });
    cases.push({
      kernel: 'matvec',
      format,
      batch: 8,
      shape: [19, 2 * block + (dense ? 5 : 0)],
      seed: next(),
    });
    // Fused: q/k/v bias, the residual add (a batch, each entry its own), and the SwiGLU gate
    // over gate and up rows stored back to back.
    cases.push({
      kernel: 'matvec',
      format,
      batch: 1,
      fusion: 'bias',
      shape: [45, 2 * block],
      seed: next(),
    });
    cases.push({
      kernel: 'matvec',
      format,
      batch: 3,
      fusion: 'residual',
      shape: [45, 2 * block],
      seed: next(),
    });
    cases.push({
      kernel: 'matvec',
      format,
      batch: 3,
      fusion: 'gate_up',
      shape: [70, 2 * block],
      seed: next(),
    });
    cases.push({ kernel: 'embedding', format, shape: [37, dense ? 45 : block, 5], seed: next() });
    // Tiles are 32 x 32 over 32-value steps: shapes on, under and over the tile edges (the
    // wide entry's 64 x 64 tiles: at the end, so the cases before keep their seeds).
    const gemmShapes: [number, number, number][] = [
      [1, 1, block],
      [5, 37, 2 * block],
      [32, 32, block],
      [33, 70, 3 * block],
    ];
    if (dense) gemmShapes.push([7, 45, 13], [40, 33, 100]);
    for (const shape of gemmShapes) {
      for (const entry of ['gpu', 'cpu'] as const) {
        cases.push({ kernel: 'gemm', format, shape, entry, seed: next() });
      }
    }
    cases.push({ kernel: 'embedding', format, shape: [300, 2 * block, 9], seed: next() });
  }

  for (const n of [1, 7, 256, 1000, 4099, 70_001]) {
    cases.push({ kernel: 'silu_mul', shape: [n], seed: next() });
    cases.push({ kernel: 'add', shape: [n], seed: next() });
    cases.push({ kernel: 'add_rows', shape: [n], seed: next() });
  }
  const ropes: [number, RopeConfig][] = [
    [1, { heads: 1, headDim: 2, ropeDims: 2, freqBase: 10000, freqScale: 1, neox: false }],
    [7, { heads: 4, headDim: 64, ropeDims: 64, freqBase: 10000, freqScale: 1, neox: false }],
    [5, { heads: 3, headDim: 64, ropeDims: 64, freqBase: 1_000_000, freqScale: 1, neox: true }],
    [9, { heads: 2, headDim: 128, ropeDims: 64, freqBase: 500_000, freqScale: 0.25, neox: true }],
    [3, { heads: 5, headDim: 80, ropeDims: 40, freqBase: 10000, freqScale: 0.5, neox: false }],
  ];
  for (const [tokens, rope] of ropes)
    cases.push({ kernel: 'rope', shape: [tokens], rope, seed: next() });
  // Qwen2-style YaRN (4x over a 32k training context) and Llama 3.1's frequency factors.
  const yarn = { origContext: 32768, extFactor: 1, betaFast: 32, betaSlow: 1 };
  const qwen = { heads: 4, headDim: 128, ropeDims: 128, freqBase: 1_000_000, neox: true };
  cases.push({
    kernel: 'rope',
    shape: [6],
    rope: { ...qwen, freqScale: 0.25, yarn },
    seed: next(),
  });
  const llama = {
    heads: 3,
    headDim: 64,
    ropeDims: 64,
    freqBase: 500_000,
    freqScale: 1,
    neox: false,
  };
  cases.push({ kernel: 'rope', shape: [5], rope: llama, freqFactors: true, seed: next() });
  const argmaxShapes: [number, number][] = [
    [1, 1],
    [1, 7],
    [3, 1000],
    [2, 32_000],
    [1, 151_936],
  ];
  const gqa = { heads: 8, kvHeads: 2, headDim: 64, blockTokens: 16 };
  const scenarios: AttentionScenario[] = [
    {
      config: { heads: 1, kvHeads: 1, headDim: 8, blockTokens: 4 },
      sequences: [1],
      mode: 'decode',
    },
    { config: gqa, sequences: [37, 300, 1], mode: 'decode', keysPerSplit: 128 },
    { config: gqa, sequences: [700], mode: 'decode' },
    { config: { ...gqa, headDim: 80 }, sequences: [150, 33], mode: 'decode', keysPerSplit: 128 },
    {
      config: { heads: 4, kvHeads: 4, headDim: 128, blockTokens: 32 },
      sequences: [90],
      mode: 'decode',
    },
    {
      config: { heads: 6, kvHeads: 2, headDim: 256, blockTokens: 16 },
      sequences: [45],
      mode: 'decode',
    },
    { config: gqa, sequences: [61], mode: { prefillFrom: 0 } },
    { config: gqa, sequences: [300, 20], mode: { prefillFrom: 263 }, keysPerSplit: 128 },
    {
      config: { ...gqa, window: 64, sinks: 4 },
      sequences: [300, 50],
      mode: 'decode',
      keysPerSplit: 128,
    },
    { config: { ...gqa, window: 16, sinks: 2 }, sequences: [70], mode: { prefillFrom: 0 } },
    { config: { ...gqa, kv: 'int8' }, sequences: [37, 300], mode: 'decode', keysPerSplit: 128 },
    { config: { ...gqa, headDim: 128, kv: 'int8' }, sequences: [90], mode: { prefillFrom: 60 } },
    { config: { ...gqa, kv: 'f16' }, sequences: [37, 300], mode: 'decode', keysPerSplit: 128 },
  ];
  for (const scenario of scenarios) cases.push({ kernel: 'attention', scenario, seed: next() });
  for (const [start, tokens] of [
    [0, 1],
    [0, 37],
    [13, 5],
    [40, 64],
  ] as [number, number][]) {
    cases.push({ kernel: 'kv_write', config: gqa, shape: [start, tokens], seed: next() });
    for (const kv of ['int8', 'f16'] as const) {
      cases.push({
        kernel: 'kv_write',
        config: { ...gqa, kv },
        shape: [start, tokens],
        seed: next(),
      });
    }
  }
  for (const kv of [undefined, 'int8', 'f16'] as const) {
    for (const [headDim, ropeDims, neox] of [
      [64, 64, false],
      [128, 96, true],
    ] as const) {
      const config = { kvHeads: 2, headDim, blockTokens: 16, ropeDims, neox, kv };
      cases.push({ kernel: 'kv_shift', config, seed: next() });
    }
  }
  for (const shape of [
    [1, 7],
    [3, 1000],
    [2, 151_936],
  ] as [number, number][]) {
    cases.push({ kernel: 'token_mask', shape, seed: next() });
  }
  const samplers: [number, SamplingSettings][] = [
    [7, { temperature: 0 }],
    [1000, { temperature: 0 }],
    [1000, { temperature: 0.8 }],
    [1000, { temperature: 1, topK: 40 }],
    [1000, { temperature: 1, topK: 1 }],
    [32_000, { temperature: 0.7, topP: 0.9 }],
    [1000, { temperature: 1.2, minP: 0.05 }],
    [5000, { temperature: 1, topK: 50, topP: 0.8, minP: 0.02 }],
    [151_936, { temperature: 0.6, topK: 20, topP: 0.95 }],
  ];
  for (const [n, settings] of samplers) cases.push({ kernel: 'sample', n, settings, seed: next() });
  const penalties: [[number, number], PenaltySettings][] = [
    [[1, 7], { repeat: 1.1, frequency: 0, presence: 0 }],
    [[1, 1000], { repeat: 1.3, frequency: 0.2, presence: 0.5 }],
    [[3, 32_000], { repeat: 1, frequency: 0.1, presence: 0 }],
    [[2, 151_936], { repeat: 0.9, frequency: 0, presence: 1.5 }],
  ];
  const dotInputs: [Exclude<DotInput, 'f32'>, number][] = [
    ['q8_0', 32],
    ['q8_0', 4096 + 32],
    ['q8_k', 256],
    ['q8_k', 13 * 256],
    ['f16', 7],
    ['f16', 5000],
    ['bf16', 7],
    ['bf16', 5000],
  ];
  for (const [kind, n] of dotInputs) {
    cases.push({ kernel: 'dot_input', kind, shape: [n], seed: next() });
  }
  for (const [shape, settings] of penalties) {
    cases.push({ kernel: 'penalties', shape, settings, seed: next() });
  }
  for (const shape of argmaxShapes) {
    cases.push({ kernel: 'argmax', shape, seed: next() });
    cases.push({ kernel: 'softmax', shape, seed: next() });
  }
  // Formats added later: a few cases each (laterFormatCases).
  for (const format of Object.keys(quantFormats) as QuantName[]) {
    if (FULL_CASE_FORMATS.includes(format) || Q8_1_FORMATS.includes(format)) continue;
    cases.push(...laterFormatCases(format, next));
  }
  // Later additions, after every earlier case so those keep their seeds. Few: each is a
  // pipeline of its own to compile, and the epilogues do not depend on the weight format.
  // x rounded as it is loaded, as llama.cpp rounds it for these weights (q8_k takes a pass),
  // in a batch each entry rounded alone, with the residual add.
  for (const format of ['Q4_0', 'Q8_0', 'F16', 'BF16'] as const) {
    const block = Math.max(32, quantFormats[format].blockValues);
    const input = dotInput[format] as 'q8_0' | 'f16' | 'bf16';
    cases.push({
      kernel: 'matvec',
      format,
      batch: 3,
      fusion: 'residual',
      input,
      shape: [37, 2 * block + (format === 'Q4_0' || format === 'Q8_0' ? 0 : 5)],
      seed: next(),
    });
  }
  // q, k and v in one pass, q and k rotated: adjacent pairs (a batch of two at positions of
  // their own), and NeoX pairs over part of the head with Qwen2's bias.
  const qkvCases: [QuantName, boolean, QkvShape][] = [
    ['Q4_0', false, { heads: 4, kvHeads: 2, headDim: 32, ropeDims: 32, neox: false }],
    ['Q8_0', true, { heads: 4, kvHeads: 2, headDim: 64, ropeDims: 32, neox: true }],
    ['Q4_K', true, { heads: 4, kvHeads: 2, headDim: 64, ropeDims: 32, neox: true }],
    ['F16', false, { heads: 4, kvHeads: 2, headDim: 64, ropeDims: 64, neox: true }],
  ];
  for (const [format, bias, qkv] of qkvCases) {
    const input = dotInput[format];
    cases.push({
      kernel: 'matvec_qkv',
      format,
      batch: bias ? 3 : 2,
      bias,
      input: input === 'f32' || input === 'q8_k' ? undefined : input,
      qkv,
      cols: 2 * Math.max(32, quantFormats[format].blockValues),
      seed: next(),
    });
  }
  // Q4_1 and Q5_1 (after the above, keeping their seeds): the later formats' cases, then with
  // their q8_1 inputs (the corrections' pass, the matvec rounding as it loads, the GEMM's
  // offset terms on both entry points, the fused q/k/v).
  for (const format of Q8_1_FORMATS) cases.push(...laterFormatCases(format, next));
  for (const n of [64, 4096 + 32]) {
    cases.push({ kernel: 'dot_input', kind: 'q8_1', shape: [n], seed: next() });
  }
  for (const format of Q8_1_FORMATS) {
    cases.push({
      kernel: 'matvec',
      format,
      batch: 3,
      fusion: 'residual',
      input: 'q8_1',
      shape: [37, 96],
      seed: next(),
    });
    for (const entry of ['gpu', 'cpu'] as const) {
      cases.push({
        kernel: 'gemm',
        format,
        input: 'q8_1',
        shape: [33, 70, 96],
        entry,
        seed: next(),
      });
    }
  }
  cases.push({
    kernel: 'matvec_qkv',
    format: 'Q4_1',
    batch: 2,
    bias: true,
    input: 'q8_1',
    qkv: { heads: 4, kvHeads: 2, headDim: 64, ropeDims: 64, neox: true },
    cols: 64,
    seed: next(),
  });
  // 256-value blocks rounded to q8_k as they are loaded: the block scales the workgroup finds
  // first, for one row of x and for eight (more blocks than one round of the search takes).
  const q8k: [QuantName, number, MatvecFusion, [number, number]][] = [
    ['Q4_K', 3, 'residual', [37, 512]],
    ['Q6_K', 1, 'none', [33, 768]],
    ['IQ4_XS', 2, 'gate_up', [70, 256]],
    ['Q2_K', 4, 'none', [20, 2304]],
  ];
  for (const [format, batch, fusion, shape] of q8k) {
    cases.push({ kernel: 'matvec', format, batch, fusion, input: 'q8_k', shape, seed: next() });
  }
  cases.push({
    kernel: 'matvec_qkv',
    format: 'Q4_K',
    batch: 3,
    bias: true,
    input: 'q8_k',
    qkv: { heads: 4, kvHeads: 2, headDim: 64, ropeDims: 32, neox: true },
    cols: 512,
    seed: next(),
  });
  // Gemma 2: the GeGLU gate (fused and alone), attention scores soft-capped over 256-wide heads
  // (with its local layers' window), the embedding scale and the final logit soft-capping.
  cases.push({
    kernel: 'matvec',
    format: 'Q8_0',
    batch: 2,
    fusion: 'gate_up',
    activation: 'gelu',
    input: 'q8_0',
    shape: [70, 256],
    seed: next(),
  });
  for (const n of [7, 4099]) cases.push({ kernel: 'gelu_mul', shape: [n], seed: next() });
  const gemma = { heads: 4, kvHeads: 2, headDim: 256, blockTokens: 16, softcap: 1.5 };
  const softcapped: AttentionScenario[] = [
    { config: gemma, sequences: [37, 300], mode: 'decode', keysPerSplit: 128 },
    { config: { ...gemma, window: 64 }, sequences: [90], mode: { prefillFrom: 40 } },
  ];
  for (const scenario of softcapped) cases.push({ kernel: 'attention', scenario, seed: next() });
  for (const n of [7, 5000]) {
    cases.push({ kernel: 'scale', shape: [n], value: Math.sqrt(2304), seed: next() });
    cases.push({ kernel: 'softcap', shape: [n], value: 30, seed: next() });
  }
  // A head dim that is not a multiple of 4: keys read a value at a time, not as vec4.
  cases.push({
    kernel: 'attention',
    scenario: {
      config: { heads: 2, kvHeads: 1, headDim: 6, blockTokens: 4 },
      sequences: [21, 3],
      mode: 'decode',
    },
    seed: next(),
  });
  // x rounded as the GEMM stages it, for the formats whose input rounds a unit or a value at a
  // time (q8_0, f16, bf16), on every entry point.
  for (const format of Object.keys(quantFormats) as QuantName[]) {
    const input = dotInput[format];
    if (input !== 'q8_0' && input !== 'f16' && input !== 'bf16') continue;
    const block = Math.max(32, quantFormats[format].blockValues);
    // (the 32 x 32 tile is the same code as the 64 x 64 one: TILE is an override)
    for (const entry of ['wide', 'cpu'] as const) {
      cases.push({
        kernel: 'gemm',
        format,
        input,
        // Float products (a GPU's default for q8_0 on 'wide' is integers: checked below).
        ...(input === 'q8_0' && { integerDot: false }),
        shape: [37, 70, 2 * block],
        entry,
        seed: next(),
      });
    }
  }
  // The 64-wide tiles: main at TILE 64 ('wide', a GPU's default) and main_8x8 at 64 ('wide8'),
  // on, under and over their tile edges. Their weight decode is the 32-wide entries' (the same
  // code: TILE is an override), checked above for every format, and x rounded as staged is
  // checked above on 'wide' for every format that rounds so. On a software adapter: a float
  // row with a partial unit, a 32-value and a 256-value block format, and x rounded to q8_0 and
  // to f16 (each format more is ~2 s of compiling on SwiftShader). Where a hardware adapter
  // runs the checks, every format on 'wide', the entry its prefill takes.
  const wideFormats: { format: QuantName; input?: 'q8_0' | 'f16' }[] = [
    { format: 'F32' },
    { format: 'Q4_0' },
    { format: 'Q4_K' },
    { format: 'Q8_0', input: 'q8_0' },
    { format: 'F16', input: 'f16' },
  ];
  const wide: {
    entry: 'wide' | 'wide8';
    format: QuantName;
    input?: 'q8_0' | 'f16';
    hardwareOnly?: true;
  }[] = [
    ...wideFormats.map((c) => ({ ...c, entry: 'wide' as const })),
    ...(Object.keys(quantFormats) as QuantName[])
      .filter((format) => !wideFormats.some((c) => c.format === format))
      .map((format) => ({ format, entry: 'wide' as const, hardwareOnly: true as const })),
    ...wideFormats.map((c) => ({ ...c, entry: 'wide8' as const })),
  ];
  for (const { entry, format, input, hardwareOnly } of wide) {
    const block = Math.max(32, quantFormats[format].blockValues);
    const shapes: [number, number, number][] = [
      [5, 37, 2 * block],
      [64, 64, block],
      [70, 131, 2 * block],
    ];
    if (quantFormats[format].blockValues === 1) shapes.push([40, 70, 100]);
    for (const shape of shapes) {
      cases.push({
        kernel: 'gemm',
        format,
        shape,
        entry,
        ...(input && { input }),
        ...(hardwareOnly && { hardwareOnly }),
        seed: next(),
      });
    }
  }
  // x rounded to 8 bits as it is loaded and multiplied as integers (dot4I8Packed, a GPU's
  // matvec where the adapter has it): every format whose input is q8_0 or q8_k, each with one
  // of the epilogues, two of them in full batches (for q8_k, the block scales of eight rows of
  // x), and the fused q/k/v. The float path's cases above take the adapter's default.
  const fusions: MatvecFusion[] = ['residual', 'gate_up', 'none'];
  let f = 0;
  for (const format of Object.keys(quantFormats) as QuantName[]) {
    const input = dotInput[format];
    if (input !== 'q8_0' && input !== 'q8_k') continue;
    const block = Math.max(32, quantFormats[format].blockValues);
    const fusion = fusions[f++ % fusions.length];
    const batch = format === 'Q4_0' || format === 'Q6_K' ? 8 : 3;
    cases.push({
      kernel: 'matvec',
      format,
      batch,
      ...(fusion !== 'none' && { fusion }),
      input,
      integerDot: true,
      shape: [fusion === 'gate_up' ? 70 : 37, 2 * block],
      seed: next(),
    });
  }
  cases.push({
    kernel: 'matvec_qkv',
    format: 'Q4_K',
    batch: 2,
    bias: true,
    input: 'q8_k',
    integerDot: true,
    qkv: { heads: 4, kvHeads: 2, headDim: 64, ropeDims: 32, neox: true },
    cols: 512,
    seed: next(),
  });
  // Lane groups of several subgroups (a GPU's long rows), their sums met in workgroup memory:
  // a float row with a tail, x rounded to q8_0 as floats, to q8_k as integers, the gate
  // (the q/k/v: with staged x below).
  const split: [QuantName, number, MatvecFusion, MatvecOptions['input'], boolean, number][] = [
    ['F32', 1, 'none', undefined, false, 300],
    ['Q4_0', 8, 'gate_up', 'q8_0', false, 96],
    ['Q4_K', 3, 'residual', 'q8_k', true, 512],
  ];
  split.forEach(([format, batch, fusion, input, integerDot, cols], i) => {
    cases.push({
      kernel: 'matvec',
      format,
      batch,
      ...(fusion !== 'none' && { fusion }),
      ...(input && { input }),
      ...(input && { integerDot }),
      subgroupsPerRow: i === 1 ? 4 : 2,
      shape: [fusion === 'gate_up' ? 70 : 45, cols],
      seed: next(),
    });
  });
  // x rounded once per workgroup into workgroup memory for the integer products: q8_0 and q8_k
  // (its block scales found first), batches, several subgroups a lane group, the q/k/v.
  const staged: [QuantName, number, MatvecFusion, [number, number], number?][] = [
    ['Q4_0', 3, 'residual', [37, 96]],
    ['Q6_K', 2, 'none', [33, 768], 2],
    ['IQ4_XS', 1, 'gate_up', [70, 512]],
  ];
  for (const [format, batch, fusion, shape, subgroupsPerRow] of staged) {
    cases.push({
      kernel: 'matvec',
      format,
      batch,
      ...(fusion !== 'none' && { fusion }),
      input: dotInput[format],
      integerDot: true,
      stageX: true,
      ...(subgroupsPerRow && { subgroupsPerRow }),
      shape,
      seed: next(),
    });
  }
  cases.push({
    kernel: 'matvec_qkv',
    format: 'Q8_0',
    batch: 2,
    bias: true,
    input: 'q8_0',
    integerDot: true,
    stageX: true,
    qkv: { heads: 4, kvHeads: 2, headDim: 64, ropeDims: 64, neox: true },
    cols: 256,
    seed: next(),
  });
  // x rounded to q8_k as the GEMM stages it (each row's 256-value block scale found at its first
  // unit), float products (a GPU's default is integers, below): both entry points (main at 64,
  // main_8x8 at 32: two rows an invocation), over several blocks, rows past a tile.
  const q8kGemm: [QuantName, GemmShape, [number, number, number]][] = [
    ['Q4_K', 'wide', [70, 33, 768]],
    ['IQ4_XS', 'cpu', [37, 70, 512]],
  ];
  for (const [format, entry, shape] of q8kGemm) {
    const input = 'q8_k';
    cases.push({ kernel: 'gemm', format, input, integerDot: false, shape, entry, seed: next() });
  }
  // Integer products on main's tiles (gemm.wgsl's main_idot; each format's decode is the
  // matvec's, checked above): x rounded to q8_0 and to q8_k, over and under both tiles' edges.
  const idotGemm: [QuantName, GemmShape, [number, number, number]][] = [
    ['Q4_0', 'wide', [70, 131, 64]],
    ['Q6_K', 'gpu', [37, 70, 512]],
    ['Q4_K', 'wide', [5, 37, 768]],
  ];
  for (const [format, entry, shape] of idotGemm) {
    const input = dotInput[format] as 'q8_0' | 'q8_k';
    cases.push({ kernel: 'gemm', format, input, integerDot: true, shape, entry, seed: next() });
  }
  // Batches of 9 to 16 (a GPU's decode of that many sequences; entries past 8 in a loop of
  // their own): float products, integer ones with x rounded as loaded and as staged (16 rows of
  // x in rounds of as many units as fit). Rows of x staged in rounds (rows longer than the
  // workgroup memory holds: Llama 3 8B's 14,336-wide down projection): several rounds, and a
  // last round of fewer units.
  type Way = Pick<MatvecOptions, 'input' | 'integerDot' | 'stageX' | 'stagedUnits' | 'wideLoads'>;
  const batches: [QuantName, number, MatvecFusion, [number, number], Way][] = [
    ['Q8_0', 16, 'residual', [37, 64], {}],
    ['Q4_K', 11, 'residual', [45, 512], { input: 'q8_k', integerDot: true, stageX: false }],
    ['Q4_0', 16, 'residual', [33, 96], { input: 'q8_0', integerDot: true, stageX: true }],
    [
      'Q6_K',
      3,
      'none',
      [45, 768],
      { input: 'q8_k', integerDot: true, stageX: true, stagedUnits: 8 },
    ],
    [
      'Q4_0',
      2,
      'gate_up',
      [70, 160],
      { input: 'q8_0', integerDot: true, stageX: true, stagedUnits: 2 },
    ],
  ];
  // Weights read 16 bytes a load (bound as vec4s): Q4_K and Q5_K with float and integer
  // products, float rows of whole 16 bytes with a tail past the last unit, the q/k/v with and
  // without biases.
  batches.push(
    ['Q4_K', 3, 'residual', [37, 512], { input: 'q8_k', integerDot: false, wideLoads: true }],
    ['Q4_K', 2, 'residual', [33, 768], { input: 'q8_k', integerDot: true, wideLoads: true }],
    ['Q5_K', 1, 'gate_up', [70, 512], { input: 'q8_k', integerDot: true, wideLoads: true }],
    ['Q5_K', 3, 'bias', [45, 256], { integerDot: false, wideLoads: true }],
    ['F32', 2, 'none', [37, 300], { wideLoads: true }],
    ['F16', 1, 'residual', [45, 264], { input: 'f16', wideLoads: true }],
    ['BF16', 16, 'gate_up', [70, 72], { wideLoads: true }],
  );
  for (const [format, batch, fusion, shape, way] of batches) {
    cases.push({
      kernel: 'matvec',
      format,
      batch,
      ...(fusion !== 'none' && { fusion }),
      ...way,
      shape,
      seed: next(),
    });
  }
  // F16 weights and x rounded to f16 staged as f16s (where the adapter has shader-f16: a GPU's
  // default), on main's tile and main_8x8's, over and under the tiles' edges.
  for (const entry of ['wide', 'cpu'] as const) {
    const shape: [number, number, number] = [70, 37, 96];
    cases.push({
      kernel: 'gemm',
      format: 'F16',
      input: 'f16',
      stageF16: true,
      shape,
      entry,
      seed: next(),
    });
  }
  for (const bias of [false, true]) {
    cases.push({
      kernel: 'matvec_qkv',
      format: 'Q4_K',
      batch: 2,
      bias,
      input: 'q8_k',
      integerDot: bias,
      wideLoads: true,
      qkv: { heads: 4, kvHeads: 2, headDim: 64, ropeDims: 64, neox: false },
      cols: 256,
      seed: next(),
    });
  }
  return cases;
}

/** The formats whose dot products take q8_1 inputs (block offsets); cases after the rest. */
export const Q8_1_FORMATS: readonly QuantName[] = ['Q4_1', 'Q5_1'];

/**
 * A format added after the first wave: its weight decode, which every weight-reading kernel
 * shares: matvec at one block, odd rows over several blocks, a batch of three, SwiGLU's pair;
 * GEMM over tile edges on both entry points; an embedding gather.
 */
export function laterFormatCases(format: QuantName, next: () => number): KernelCase[] {
  const block = quantFormats[format].blockValues;
  const gemm = (entry: 'gpu' | 'cpu'): KernelCase => ({
    kernel: 'gemm',
    format,
    shape: [33, 70, 3 * block],
    entry,
    seed: next(),
  });
  return [
    { kernel: 'matvec', format, batch: 1, shape: [1, block], seed: next() },
    { kernel: 'matvec', format, batch: 1, shape: [33, 3 * block], seed: next() },
    { kernel: 'matvec', format, batch: 3, shape: [37, 2 * block], seed: next() },
    { kernel: 'matvec', format, batch: 1, fusion: 'gate_up', shape: [70, 2 * block], seed: next() },
    gemm('gpu'),
    gemm('cpu'),
    { kernel: 'embedding', format, shape: [37, block, 5], seed: next() },
  ];
}
