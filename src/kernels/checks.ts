import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { f32ToF16, roundToF16 } from '../util/half.js';
import { Rng } from '../util/rng.js';
import { quantFormats, randomWeights, type QuantName } from '../quant/index.js';
import { Argmax } from './argmax.js';
import {
  Attention,
  KvShift,
  KvWrite,
  type AttentionConfig,
  type AttentionQuery,
  type KvShiftConfig,
} from './attention.js';
import {
  attentionReference,
  kvShiftReference,
  kvWriteReference,
  packInt8Cache,
  unpackInt8Cache,
} from './reference/attention.js';
import { Elementwise, Unary, type ElementwiseOp, type UnaryOp } from './elementwise.js';
import { Embedding } from './embedding.js';
import { Gemm, type GemmOptions } from './gemm.js';
import { Matvec, type MatvecFusion, type MatvecOptions } from './matvec.js';
import {
  addReference,
  argmaxReference,
  siluMulReference,
  geluGgml,
  geluMulReference,
  softmaxReference,
} from './reference/elementwise.js';
import { embeddingReference } from './reference/embedding.js';
import { ropeCache } from './rope-angles.js';
import { ropeReference } from './reference/rope.js';
import { Rope, type RopeConfig } from './rope.js';
import { Softmax } from './softmax.js';
import { Sampler, type SamplingSettings } from './sample.js';
import { keptTokens, sampleReference } from './reference/sample.js';
import { countTokens, Penalties, type PenaltySettings } from './penalties.js';
import { DotInputRounding } from './dot-input.js';
import { maskWords, TokenMask, tokenMaskReference } from './token-mask.js';
import { dotInputReference, q8_1Corrections, q8_1OffsetTerms } from './reference/dot-input.js';
import { dotInput, type DotInput } from '../quant/dot-input.js';
import { penaltiesReference } from './reference/penalties.js';
import { matvecReference } from './reference/matvec.js';
import { rmsNormReference } from './reference/rms-norm.js';
import { RmsNorm } from './rms-norm.js';
import type { Activations, KernelOptions } from './variant.js';
import { compareToReference, GuardedOutput, type Comparison } from './testing/compare.js';

/**
 * Kernel checks against the CPU references, written once and run everywhere: by vitest on Dawn
 * in Node, inside a Web Worker in Chromium (e2e), by `agentgpu info` and by the demo page.
 */
export interface KernelCheckResult extends Comparison {
  kernel: string;
  /** The pipeline variant that ran, e.g. matvec_f32_sg_wg256. */
  variant: string;
  shape: string;
}

/** NMSE limits for f32 kernels: f32 accumulation against an f64 reference over ≤ 4k terms. */
const F32_NMSE_LIMIT = 1e-10;

/**
 * The limit for f16 activations: inputs are f16 exactly (the reference sees the same values),
 * math is f32, and each output is rounded once to f16 (relative error ≤ 2⁻¹¹, NMSE ~1e-7).
 */
const F16_NMSE_LIMIT = 1e-5;

/** `values` as the kernel will see them: rounded to f16 for f16 activations. */
function asActivations(values: Float32Array, activations: Activations = 'f32'): Float32Array {
  return activations === 'f16' ? values.map(roundToF16) : values;
}

/**
 * W (rows, cols) · x[m] for each vector of x (m, cols) as llama.cpp computes it against weights
 * in `format` for `input`: x rounded first, and for q8_1 each block's offset meeting the
 * block's f16 sum (q8_1OffsetTerms). The weights are those the kernel decodes (`dense`, the
 * format's CPU dequantize of `weights`), never the floats they came from; sums in f64.
 */
function referenceProducts(
  format: QuantName,
  weights: Uint8Array,
  dense: Float32Array,
  x: Float32Array,
  rows: number,
  cols: number,
  input: DotInput,
): Float32Array {
  const xIn = input === 'f32' ? x : dotInputReference(x, input);
  const out = new Float32Array((x.length / cols) * rows);
  for (let m = 0; m < x.length / cols; m++) {
    const y = matvecReference(dense, xIn.subarray(m * cols, (m + 1) * cols), rows, cols);
    if (input === 'q8_1') {
      const corrections = q8_1Corrections(x.subarray(m * cols, (m + 1) * cols));
      const terms = q8_1OffsetTerms(quantFormats[format], weights, rows, cols, corrections);
      for (let r = 0; r < rows; r++) y[r] += terms[r];
    }
    out.set(y, m * rows);
  }
  return out;
}

/** For a q8_k input, a last 256-value block of zeros: its scale is 0, its values stay 0. */
function q8kEdges(x: Float32Array, input: DotInput): Float32Array {
  return input === 'q8_k' ? x.fill(0, x.length - 256) : x;
}

/** One kernel run on uploaded inputs into a guarded output, compared with its reference. */
interface CheckSpec {
  kernel: string;
  variant: string;
  shape: string;
  inputs: CheckInput[];
  expected: Float32Array;
  limit: number;
  /** What the output holds before the kernel runs (in-place kernels). */
  initialOut?: Float32Array;
  /** Compare as u32 ids, exactly: nmse is then the share of ids that differ. */
  exactIds?: boolean;
  /** How `{ act }` inputs and the output are stored (default f32). */
  activations?: Activations;
  /** The output is f32 whatever the activations. */
  f32Output?: boolean;
  /** Records the kernel on `inputs` (uploaded, in order) writing to `out`. */
  encode(batch: ComputeBatch, inputs: GPUBuffer[], out: Binding): void;
}

/** Raw bytes, or `{ act }`: activations, uploaded as f32 or f16 per the spec's activations. */
type CheckInput = Float32Array | Uint8Array | Uint32Array | { act: Float32Array };

/** Ids (as the bits of f32 arrays) must match exactly. */
function compareIds(
  actual: Float32Array,
  expected: Float32Array,
  guardViolations: number,
): Comparison {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const wrong = a.filter((id, i) => id !== e[i]).length;
  return {
    nmse: wrong / Math.max(1, e.length),
    maxAbsError: wrong,
    nonFinite: 0,
    guardViolations,
    limit: 0,
    passed: wrong === 0 && guardViolations === 0,
  };
}

async function checkAgainstReference(gpu: GpuContext, spec: CheckSpec): Promise<KernelCheckResult> {
  const buffers: GPUBuffer[] = [];
  let out: GuardedOutput | undefined;
  try {
    const f16 = spec.activations === 'f16';
    for (const [i, input] of spec.inputs.entries()) {
      const data =
        'act' in input ? (f16 ? Uint16Array.from(input.act, f32ToF16) : input.act) : input;
      buffers.push(await gpu.upload(data, `check:${spec.kernel}:in${i}`));
    }
    out = await GuardedOutput.create(
      gpu,
      spec.expected.length,
      `check:${spec.kernel}:out`,
      spec.initialOut,
      f16 && !spec.exactIds && !spec.f32Output ? 2 : 4,
    );
    const batch = gpu.batch(`check:${spec.kernel}`);
    spec.encode(batch, buffers, out.binding);
    await batch.submit();
    const { values, guardViolations } = await out.read();
    const comparison = spec.exactIds
      ? compareIds(values, spec.expected, guardViolations)
      : compareToReference(
          values,
          spec.expected,
          f16 ? Math.max(spec.limit, F16_NMSE_LIMIT) : spec.limit,
          guardViolations,
        );
    return { kernel: spec.kernel, variant: spec.variant, shape: spec.shape, ...comparison };
  } finally {
    for (const buffer of buffers) buffer.destroy();
    out?.destroy();
  }
}

/**
 * Matvec on `batch` random vectors against dequantize-then-f32: the reference multiplies the
 * weights the kernel decodes (the format's CPU dequantize), never the floats they came from.
 */
export async function checkMatvec(
  gpu: GpuContext,
  rows: number,
  cols: number,
  seed: number,
  options: MatvecOptions = {},
): Promise<KernelCheckResult> {
  const { format = 'F32', batch = 1, fusion = 'none', input = 'f32' } = options;
  const rng = new Rng(seed);
  // gate_up: the gate rows, then the up rows, back to back.
  const matrixRows = fusion === 'gate_up' ? 2 * rows : rows;
  const weights = randomWeights(quantFormats[format], rng, matrixRows * cols);
  const x = asActivations(q8kEdges(rng.floats(batch * cols), input), options.activations);
  const bias = fusion === 'bias' ? rng.floats(rows) : undefined;
  const residual =
    fusion === 'residual'
      ? asActivations(rng.floats(batch * rows), options.activations)
      : undefined;
  const dense = quantFormats[format].dequantize(weights, matrixRows * cols);
  // The kernel rounds x as it loads it; the reference rounds it first, as llama.cpp does.
  const products = referenceProducts(format, weights, dense, x, matrixRows, cols, input);
  const expected = new Float32Array(batch * rows);
  for (let m = 0; m < batch; m++) {
    const y = products.subarray(m * matrixRows, (m + 1) * matrixRows);
    for (let r = 0; r < rows; r++) {
      const g = y[r];
      const gate = options.activation === 'gelu' ? geluGgml(g) : g / (1 + Math.exp(-g));
      expected[m * rows + r] =
        fusion === 'gate_up'
          ? gate * y[rows + r]
          : g + (bias?.[r] ?? 0) + (residual?.[m * rows + r] ?? 0);
    }
  }
  const kernel = await Matvec.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: `matvec${fusion === 'none' ? '' : ` ${fusion}`}${options.activation === 'gelu' ? ' gelu' : ''}${input === 'f32' ? '' : ` in ${input}`}`,
    variant: kernel.variant.key.name,
    shape: batch > 1 ? `${batch}x${rows}x${cols}` : `${rows}x${cols}`,
    inputs: bias
      ? [weights, { act: x }, bias]
      : residual
        ? [weights, { act: x }, { act: residual }]
        : [weights, { act: x }],
    expected,
    limit: F32_NMSE_LIMIT,
    activations: options.activations,
    encode: (b, [w, xBuf, added], out) =>
      kernel.encode(b, { w, x: xBuf, out, rows, cols, bias: added, residual: added }),
  });
}

/** The shape of a fused q/k/v projection check: heads of q and of k/v, and their rotation. */
export interface QkvShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  ropeDims: number;
  neox: boolean;
}

/**
 * The qkv matvec (Wq, Wk, Wv back to back; q and k rotated as they are written) against the
 * matvec reference and ropeReference, batch entries at positions of their own. The three
 * outputs are consecutive ranges of one checked buffer, so the shape must keep each range's
 * bytes a multiple of the storage offset alignment.
 */
export async function checkMatvecQkv(
  gpu: GpuContext,
  qkv: QkvShape,
  cols: number,
  seed: number,
  options: MatvecOptions = {},
): Promise<KernelCheckResult> {
  const { format = 'F32', batch = 1, input = 'f32' } = options;
  const fusion = options.fusion === 'qkv_bias' ? 'qkv_bias' : 'qkv';
  const rng = new Rng(seed);
  const qRows = qkv.heads * qkv.headDim;
  const kvRows = qkv.kvHeads * qkv.headDim;
  const rows = qRows + 2 * kvRows;
  const weights = randomWeights(quantFormats[format], rng, rows * cols);
  const x = asActivations(q8kEdges(rng.floats(batch * cols), input), options.activations);
  const bias = fusion === 'qkv_bias' ? rng.floats(rows) : undefined;
  const dense = quantFormats[format].dequantize(weights, rows * cols);
  const products = referenceProducts(format, weights, dense, x, rows, cols, input);
  const rope: RopeConfig = {
    heads: qkv.heads,
    headDim: qkv.headDim,
    ropeDims: qkv.ropeDims,
    freqBase: 10000,
    freqScale: 1,
    neox: qkv.neox,
  };
  const positions = Array.from({ length: batch }, () => rng.int(0, 4095));
  const cache = ropeCache(positions, rope);
  const q = new Float32Array(batch * qRows);
  const k = new Float32Array(batch * kvRows);
  const v = new Float32Array(batch * kvRows);
  for (let m = 0; m < batch; m++) {
    const y = products.subarray(m * rows, (m + 1) * rows);
    if (bias) for (let r = 0; r < rows; r++) y[r] += bias[r];
    q.set(y.subarray(0, qRows), m * qRows);
    k.set(y.subarray(qRows, qRows + kvRows), m * kvRows);
    v.set(y.subarray(qRows + kvRows), m * kvRows);
  }
  const expected = new Float32Array(batch * rows);
  expected.set(ropeReference(q, cache, rope));
  expected.set(ropeReference(k, cache, { ...rope, heads: qkv.kvHeads }), batch * qRows);
  expected.set(v, batch * (qRows + kvRows));
  const kernel = await Matvec.load(gpu, { ...options, fusion });
  const bytes = options.activations === 'f16' ? 2 : 4;
  const align = gpu.facts.limits.minStorageBufferOffsetAlignment;
  if ((batch * qRows * bytes) % align !== 0 || (batch * kvRows * bytes) % align !== 0) {
    throw new RangeError(
      `qkv check: ${batch} x ${qRows} / ${kvRows} outputs do not align to ${align}`,
    );
  }
  const part = (out: Binding, start: number, count: number): Binding => {
    const o = out as { buffer: GPUBuffer; offset: number };
    return { buffer: o.buffer, offset: o.offset + start * bytes, size: count * bytes };
  };
  return checkAgainstReference(gpu, {
    kernel: `matvec ${fusion}${input === 'f32' ? '' : ` in ${input}`}`,
    variant: kernel.variant.key.name,
    shape: `${batch}x(${qkv.heads}+2x${qkv.kvHeads})x${qkv.headDim}/${qkv.ropeDims}${qkv.neox ? ' neox' : ''}x${cols}`,
    inputs: bias ? [weights, { act: x }, cache, bias] : [weights, { act: x }, cache],
    expected,
    limit: F32_NMSE_LIMIT,
    activations: options.activations,
    encode: (b, [w, xBuf, angles, biasBuf], out) =>
      kernel.encode(b, {
        w,
        x: xBuf,
        out: part(out, 0, batch * qRows),
        rows,
        cols,
        bias: biasBuf,
        qkv: {
          k: part(out, batch * qRows, batch * kvRows),
          v: part(out, batch * (qRows + kvRows), batch * kvRows),
          rope: angles,
          qRows,
          kvRows,
          headDim: qkv.headDim,
          ropeDims: qkv.ropeDims,
          neox: qkv.neox,
        },
      }),
  });
}

export async function checkRmsNorm(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const x = asActivations(rng.floats(rows * n, 4), options.activations);
  const weight = rng.floats(n);
  const eps = 1e-5;
  const kernel = await RmsNorm.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: 'rms_norm',
    variant: kernel.variant.key.name,
    shape: `${rows}x${n}`,
    inputs: [{ act: x }, weight],
    expected: rmsNormReference(x, weight, rows, n, eps),
    limit: F32_NMSE_LIMIT,
    activations: options.activations,
    encode: (batch, [xBuf, wBuf], out) =>
      kernel.encode(batch, { x: xBuf, weight: wBuf, out, rows, n, eps }),
  });
}

/**
 * Prefill GEMM against dequantize-then-f32, weights past a binding split when asked. For a q8_1
 * input the kernel gets x rounded and its corrections as the rounding pass leaves them (the
 * reference's, which checkDotInput holds that pass to).
 */
export async function checkGemm(
  gpu: GpuContext,
  m: number,
  n: number,
  k: number,
  seed: number,
  options: GemmOptions = {},
): Promise<KernelCheckResult> {
  const { format = 'F32', input = 'f32' } = options;
  const rng = new Rng(seed);
  const weights = randomWeights(quantFormats[format], rng, n * k);
  const x = asActivations(rng.floats(m * k), options.activations);
  const dense = quantFormats[format].dequantize(weights, n * k);
  const kernel = await Gemm.load(gpu, options);
  const rounded = input === 'q8_1';
  return checkAgainstReference(gpu, {
    kernel: `gemm ${format}${rounded ? ' in q8_1' : ''}`,
    variant: kernel.key.name,
    shape: `${m}x${n}x${k}`,
    inputs: rounded
      ? [weights, { act: dotInputReference(x, input) }, q8_1Corrections(x)]
      : [weights, { act: x }],
    expected: referenceProducts(format, weights, dense, x, n, k, input),
    limit: F32_NMSE_LIMIT,
    activations: options.activations,
    encode: (b, [w, xBuf, corrections], out) =>
      kernel.encode(b, { w, x: xBuf, out, m, n, k, corrections }),
  });
}

export async function checkSoftmax(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const x = asActivations(rng.floats(rows * n, 20), options.activations);
  const scale = 0.7;
  const kernel = await Softmax.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: 'softmax',
    variant: kernel.variant.key.name,
    shape: `${rows}x${n}`,
    inputs: [{ act: x }],
    expected: softmaxReference(x, rows, n, scale),
    limit: F32_NMSE_LIMIT,
    activations: options.activations,
    encode: (b, [xBuf], out) => kernel.encode(b, { x: xBuf, out, rows, n, scale }),
  });
}

/** A paged-cache attention test: sequences of given lengths, blocks in shuffled order. */
export interface AttentionScenario {
  config: AttentionConfig;
  /** Cache length of each sequence. */
  sequences: number[];
  /** decode: one query per sequence, at its last token; prefill: sequence 0's tokens from `from` on. */
  mode: 'decode' | { prefillFrom: number };
  keysPerSplit?: number;
}

/** Block tables for `lengths`, with the physical blocks shuffled and a few spare ones unused. */
function pagedLayout(rng: Rng, lengths: number[], blockTokens: number) {
  const counts = lengths.map((n) => Math.ceil(n / blockTokens));
  const blocks = counts.reduce((a, b) => a + b, 0) + 3;
  const physical = Array.from({ length: blocks }, (_, i) => i);
  for (let i = blocks - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [physical[i], physical[j]] = [physical[j], physical[i]];
  }
  const offsets: number[] = [];
  let at = 0;
  for (const count of counts) {
    offsets.push(at);
    at += count;
  }
  return { blocks, table: Uint32Array.from(physical.slice(0, at)), offsets };
}

export async function checkAttention(
  gpu: GpuContext,
  scenario: AttentionScenario,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const { config, sequences, mode } = scenario;
  const rng = new Rng(seed);
  const { blocks, table, offsets } = pagedLayout(rng, sequences, config.blockTokens);
  const cacheSize = blocks * config.kvHeads * config.blockTokens * config.headDim;
  // The caches are uploaded as stored (f32, f16 or packed int8); the reference reads the
  // values they hold.
  const kv = config.kv ?? options.activations ?? 'f32';
  const cacheInput = (values: Float32Array): [CheckInput, Float32Array] => {
    if (kv === 'int8') {
      const words = packInt8Cache(config, values);
      return [words, unpackInt8Cache(config, words)];
    }
    const held = kv === 'f16' ? values.map(roundToF16) : values;
    return [kv === 'f16' ? new Uint8Array(Uint16Array.from(held, f32ToF16).buffer) : held, held];
  };
  const [kInput, kCache] = cacheInput(rng.floats(cacheSize));
  const [vInput, vCache] = cacheInput(rng.floats(cacheSize));
  const queries: AttentionQuery[] =
    mode === 'decode'
      ? sequences.map((n, s) => ({ tableOffset: offsets[s], qIndex: n - 1 }))
      : Array.from({ length: sequences[0] - mode.prefillFrom }, (_, i) => ({
          tableOffset: offsets[0],
          qIndex: mode.prefillFrom + i,
        }));
  const q = asActivations(
    rng.floats(queries.length * config.heads * config.headDim, 2),
    options.activations,
  );
  const kernel = await Attention.load(gpu, config, scenario.keysPerSplit, options);
  const maxKeys = Math.max(...queries.map((x) => x.qIndex + 1));
  const sizes = kernel.scratchBytes(queries.length, maxKeys);
  const acc = await gpu.createBuffer(sizes.acc, GPUBufferUsage.STORAGE, 'check:attention:acc');
  const ml = await gpu.createBuffer(sizes.ml, GPUBufferUsage.STORAGE, 'check:attention:ml');
  const { window = 0, sinks = 0 } = config;
  try {
    return await checkAgainstReference(gpu, {
      kernel: 'attention',
      variant: kernel.splitKey.name,
      shape:
        `${typeof mode === 'string' ? 'decode' : 'prefill'} ${queries.length}q ` +
        `${config.heads}/${config.kvHeads}x${config.headDim} kv[${sequences.join(',')}]` +
        (window ? ` window ${window} sinks ${sinks}` : '') +
        (config.kv ? ` ${config.kv} kv` : '') +
        ` split ${kernel.split(maxKeys, queries.length).keysPerSplit}`,
      inputs: [{ act: q }, kInput, vInput, table, Attention.queryInfo(queries)],
      expected: attentionReference(config, q, kCache, vCache, table, queries),
      limit: 1e-9,
      activations: options.activations,
      encode: (batch, [qBuf, k, v, t, info], out) =>
        kernel.encode(batch, {
          q: qBuf,
          kCache: k,
          vCache: v,
          table: t,
          queries: info,
          out,
          scratch: { acc, ml },
          queryCount: queries.length,
          maxKeys,
        }),
    });
  } finally {
    acc.destroy();
    ml.destroy();
  }
}

/** New K and V for `tokens` tokens written at `start` of sequence 1 of three; the rest untouched. */
export async function checkKvWrite(
  gpu: GpuContext,
  config: AttentionConfig,
  start: number,
  tokens: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const { activations = 'f32' } = options;
  const kv = config.kv ?? activations;
  const rng = new Rng(seed);
  const lengths = [20, start + tokens, 7];
  const { blocks, table, offsets } = pagedLayout(rng, lengths, config.blockTokens);
  const cacheSize = blocks * config.kvHeads * config.blockTokens * config.headDim;
  const values = (n: number) => asActivations(rng.floats(n), activations);
  const cacheValues = (n: number) => (kv === 'f16' ? rng.floats(n).map(roundToF16) : values(n));
  const kCache = cacheValues(cacheSize);
  const vCache = cacheValues(cacheSize);
  // Sequence 1's tokens from `start`, then a token at the end of sequence 2: one dispatch.
  const row = config.kvHeads * config.headDim;
  const kNew = values((tokens + 1) * row);
  const vNew = values((tokens + 1) * row);
  const first = kvWriteReference(
    config,
    kCache,
    vCache,
    table,
    offsets[1],
    start,
    kNew.subarray(0, tokens * row),
    vNew.subarray(0, tokens * row),
  );
  const expected = kvWriteReference(
    config,
    first.k,
    first.v,
    table,
    offsets[2],
    lengths[2] - 1,
    kNew.subarray(tokens * row),
    vNew.subarray(tokens * row),
  );
  const queries = Attention.queryInfo([
    ...Array.from({ length: tokens }, (_, t) => ({ tableOffset: offsets[1], qIndex: start + t })),
    { tableOffset: offsets[2], qIndex: lengths[2] - 1 },
  ]);
  const kernel = await KvWrite.load(gpu, config, options);
  const upload = (v: Float32Array, label: string) =>
    gpu.upload(activations === 'f16' ? Uint16Array.from(v, f32ToF16) : v, label);
  const inputs = [
    await upload(kNew, 'check:k_new'),
    await upload(vNew, 'check:v_new'),
    await gpu.upload(table, 'check:table'),
    await gpu.upload(queries, 'check:queries'),
  ];
  // The caches as stored: f32 or f16 values, or int8 words (held in f32 slots, bit for bit).
  const stored = (floats: Float32Array): [Float32Array, number, 2 | 4] => {
    if (kv !== 'int8') return [floats, floats.length, kv === 'f16' ? 2 : 4];
    const words = packInt8Cache(config, floats);
    return [new Float32Array(words.buffer), words.length, 4];
  };
  const [kInit, kLength, bytes] = stored(kCache);
  const [vInit, vLength] = stored(vCache);
  const kOut = await GuardedOutput.create(gpu, kLength, 'check:k_cache', kInit, bytes);
  const vOut = await GuardedOutput.create(gpu, vLength, 'check:v_cache', vInit, bytes);
  try {
    const batch = gpu.batch('check:kv_write');
    kernel.encode(batch, {
      kNew: inputs[0],
      vNew: inputs[1],
      table: inputs[2],
      queries: inputs[3],
      kCache: kOut.binding,
      vCache: vOut.binding,
      tokens: tokens + 1,
    });
    await batch.submit();
    const k = await kOut.read();
    const v = await vOut.read();
    const held = (read: Float32Array) =>
      kv === 'int8' ? unpackInt8Cache(config, new Uint32Array(read.buffer)) : read;
    const wanted = (floats: Float32Array) =>
      kv === 'int8'
        ? unpackInt8Cache(config, packInt8Cache(config, floats))
        : kv === 'f16'
          ? floats.map(roundToF16)
          : floats;
    const actual = new Float32Array(2 * cacheSize);
    actual.set(held(k.values));
    actual.set(held(v.values), cacheSize);
    const want = new Float32Array(2 * cacheSize);
    want.set(wanted(expected.k));
    want.set(wanted(expected.v), cacheSize);
    // A copy of values the cache's type holds exactly: exact, and every other slot untouched.
    // int8 rows are rounded on both sides; f32 vs f64 division may move one step.
    const limit = kv === 'int8' ? 1e-6 : 0;
    const comparison = compareToReference(
      actual,
      want,
      limit,
      k.guardViolations + v.guardViolations,
    );
    return {
      kernel: 'kv_write',
      variant: kernel.key.name,
      shape:
        `${tokens} at ${start} ${config.kvHeads}x${config.headDim} bt${config.blockTokens}` +
        (config.kv ? ` ${config.kv}` : ''),
      ...comparison,
    };
  } finally {
    for (const b of inputs) b.destroy();
    kOut.destroy();
    vOut.destroy();
  }
}

/**
 * Three of six blocks of a K cache rotated in place by random angles (a window's context
 * shift); the other blocks untouched. int8 rows are requantized on both sides.
 */
export async function checkKvShift(
  gpu: GpuContext,
  config: KvShiftConfig,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const kv = config.kv ?? options.activations ?? 'f32';
  const rng = new Rng(seed);
  const blocks = 6;
  const listed = [4, 1, 5];
  const size = blocks * config.kvHeads * config.blockTokens * config.headDim;
  const floats = rng.floats(size, 2);
  const thetas = rng.floats(config.ropeDims / 2, Math.PI);
  const angles = Float32Array.from(Array.from(thetas).flatMap((t) => [Math.cos(t), Math.sin(t)]));
  const kernel = await KvShift.load(gpu, config, options);
  // The cache as stored, and the values it holds.
  let initial: Float32Array;
  let held: Float32Array;
  let words: number;
  if (kv === 'int8') {
    const packed = packInt8Cache(config, floats);
    initial = new Float32Array(packed.buffer);
    held = unpackInt8Cache(config, packed);
    words = packed.length;
  } else {
    held = kv === 'f16' ? floats.map(roundToF16) : floats;
    initial = held;
    words = size;
  }
  const rotated = kvShiftReference(config, held, listed, angles);
  const expected =
    kv === 'int8'
      ? unpackInt8Cache(config, packInt8Cache(config, rotated))
      : kv === 'f16'
        ? rotated.map(roundToF16)
        : rotated;
  const inputs = [
    await gpu.upload(Uint32Array.from(listed), 'check:kv_shift:blocks'),
    await gpu.upload(angles, 'check:kv_shift:angles'),
  ];
  const out = await GuardedOutput.create(
    gpu,
    words,
    'check:kv_shift:cache',
    initial,
    kv === 'f16' ? 2 : 4,
  );
  try {
    const batch = gpu.batch('check:kv_shift');
    kernel.encode(batch, {
      cache: out.binding,
      blocks: inputs[0],
      angles: inputs[1],
      count: listed.length,
    });
    await batch.submit();
    const read = await out.read();
    const actual =
      kv === 'int8' ? unpackInt8Cache(config, new Uint32Array(read.values.buffer)) : read.values;
    // f32 rotation against f64; an f16 or int8 value may land one step away.
    const limit = kv === 'f32' ? F32_NMSE_LIMIT : 1e-6;
    return {
      kernel: 'kv_shift',
      variant: kernel.key.name,
      shape:
        `${listed.length} of ${blocks} blocks ${config.kvHeads}x${config.headDim}/${config.ropeDims}` +
        `${config.neox ? ' neox' : ''} ${kv}`,
      ...compareToReference(actual, expected, limit, read.guardViolations),
    };
  } finally {
    for (const b of inputs) b.destroy();
    out.destroy();
  }
}

/** RoPE in place on (tokens, heads, headDim) at random positions. */
export async function checkRope(
  gpu: GpuContext,
  tokens: number,
  config: RopeConfig,
  seed: number,
  options: KernelOptions = {},
  withFactors = false,
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const x = asActivations(rng.floats(tokens * config.heads * config.headDim), options.activations);
  const positions = Uint32Array.from({ length: tokens }, () => rng.int(0, 4095));
  // Llama 3.1-style per-pair frequency divisors for some configs.
  const factors = withFactors
    ? Float32Array.from({ length: config.ropeDims / 2 }, () => 1 + rng.next() * 7)
    : undefined;
  const kernel = await Rope.load(gpu, config, options);
  const cache = kernel.cache(positions, factors);
  return checkAgainstReference(gpu, {
    kernel: 'rope',
    variant: kernel.key.name,
    shape: `${tokens}x${config.heads}x${config.headDim}/${config.ropeDims}${config.neox ? ' neox' : ''}`,
    inputs: [cache],
    initialOut: x,
    expected: ropeReference(x, cache, config),
    // The angles are the same numbers on both sides; only the rotation's f32 rounding differs.
    limit: 1e-12,
    activations: options.activations,
    encode: (b, [c], out) => kernel.encode(b, { x: out, cache: c, tokens }),
  });
}

/** The largest divisor of n up to 257: a row length for add_rows cases. */
function rowLength(n: number): number {
  for (let d = Math.min(n, 257); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

export async function checkElementwise(
  gpu: GpuContext,
  op: ElementwiseOp,
  n: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  // gelu_mul: past ±10 too, where GELU leaves its table.
  const a = asActivations(rng.floats(n, op === 'gelu_mul' ? 12 : 6), options.activations);
  // add_rows: a bias of a row's length (n must be a multiple of it), repeated over the rows.
  const bLength = op === 'add_rows' ? rowLength(n) : n;
  const b = asActivations(rng.floats(bLength, 2), options.activations);
  const kernel = await Elementwise.load(gpu, op, options);
  return checkAgainstReference(gpu, {
    kernel: op,
    variant: kernel.key.name,
    shape: `${n}`,
    inputs: [{ act: a }, { act: b }],
    expected:
      op === 'silu_mul'
        ? siluMulReference(a, b)
        : op === 'gelu_mul'
          ? geluMulReference(a, b)
          : addReference(a, b),
    // gelu_mul: the device's tanh may round a GELU to the neighbouring f16 (2^-11) now and then.
    limit: op === 'gelu_mul' ? 1e-9 : 1e-12,
    activations: options.activations,
    encode: (batch, [aBuf, bBuf], out) =>
      kernel.encode(batch, { a: aBuf, b: bBuf, out, n, bLength }),
  });
}

/** An in-place unary op (Gemma's embedding scale, its final logit soft-capping). */
export async function checkUnary(
  gpu: GpuContext,
  op: UnaryOp,
  n: number,
  value: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const x = asActivations(new Rng(seed).floats(n, 4 * value), options.activations);
  const kernel = await Unary.load(gpu, op, options);
  return checkAgainstReference(gpu, {
    kernel: op,
    variant: kernel.key.name,
    shape: `${n}`,
    inputs: [],
    initialOut: x,
    expected: x.map((v) => (op === 'scale' ? v * value : value * Math.tanh(v / value))),
    limit: 1e-12,
    activations: options.activations,
    encode: (batch, _inputs, out) => kernel.encode(batch, { x: out, n, value }),
  });
}

export async function checkEmbedding(
  gpu: GpuContext,
  format: QuantName,
  vocab: number,
  dim: number,
  tokens: number,
  seed: number,
  options: KernelOptions & { bindingLimit?: number } = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const table = randomWeights(quantFormats[format], rng, vocab * dim);
  // Mostly real ids, one past the vocabulary (it must read as zeros).
  const ids = Uint32Array.from({ length: tokens }, (_, t) =>
    t === 1 ? vocab + 3 : rng.int(0, vocab - 1),
  );
  const kernel = await Embedding.load(gpu, format, options);
  return checkAgainstReference(gpu, {
    kernel: `embedding ${format}`,
    variant: kernel.key.name,
    shape: `${tokens} of ${vocab}x${dim}`,
    inputs: [table, ids],
    expected: embeddingReference(quantFormats[format], table, vocab, dim, ids),
    // A gather: the kernel decodes exactly what the CPU decodes.
    limit: 1e-14,
    activations: options.activations,
    encode: (batch, [t, i], out) =>
      kernel.encode(batch, { table: t, ids: i, out, tokens, vocab, dim }),
  });
}

export async function checkArgmax(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  // Coarse values (exact in f16 too), so ties happen and must go to the lowest index.
  const logits = Float32Array.from({ length: rows * n }, () => rng.int(-50, 50) / 4);
  const kernel = await Argmax.load(gpu, options);
  const expected = argmaxReference(logits, rows, n);
  return checkAgainstReference(gpu, {
    kernel: 'argmax',
    variant: kernel.key.name,
    shape: `${rows}x${n}`,
    inputs: [{ act: logits }],
    expected: new Float32Array(expected.buffer),
    limit: 0,
    exactIds: true,
    activations: options.activations,
    encode: (batch, [l], ids) => kernel.encode(batch, { logits: l, ids, rows, n }),
  });
}

/**
 * GPU sampling against the reference: one row per draw, each u placed in the middle of a kept
 * token's share of the running sum (so f32 and f64 agree on the answer), u = 0 included.
 * Logits are drawn again (next seed) while a top-p boundary sits within rounding of its goal.
 */
export async function checkSample(
  gpu: GpuContext,
  n: number,
  settings: SamplingSettings,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  let logits: Float32Array = new Float32Array(0);
  for (let attempt = 0; attempt < 20; attempt++) {
    const rng = new Rng(seed + attempt);
    logits = asActivations(rng.floats(n, 8), options.activations);
    if (topPMargin(logits, settings) > 1e-3) break;
  }
  const { ids, weights } = keptTokens(logits, settings);
  const total = weights.reduce((a, b) => a + b, 0);
  const draws: number[] = [0];
  const step = Math.max(1, Math.floor(ids.length / 12));
  let before = 0;
  weights.forEach((w, t) => {
    if (t % step === 0 && w / total > 1e-6) draws.push((before + w / 2) / total);
    before += w;
  });
  const expected = Uint32Array.from(draws, (u) => sampleReference(logits, settings, u));
  const rows = draws.length;
  const repeated = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) repeated.set(logits, r * n);
  const kernel = await Sampler.load(gpu, options);
  const s = settings;
  return checkAgainstReference(gpu, {
    kernel: 'sample',
    variant: kernel.key.name,
    shape: `${rows}x${n} t${s.temperature} k${s.topK ?? 0} p${s.topP ?? 1} min${s.minP ?? 0}`,
    inputs: [{ act: repeated }, Sampler.settings(draws.map((u) => ({ settings, u })))],
    expected: new Float32Array(expected.buffer),
    limit: 0,
    exactIds: true,
    activations: options.activations,
    encode: (batch, [l, st], out) =>
      kernel.encode(batch, { logits: l, settings: st, ids: out, rows, n }),
  });
}

/**
 * Penalties in place on logits (rows, n): each row's window is random recent tokens with
 * repeats (so counts exceed 1) and one id past the vocabulary (skipped).
 */
export async function checkPenalties(
  gpu: GpuContext,
  rows: number,
  n: number,
  settings: PenaltySettings,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const logits = asActivations(rng.floats(rows * n, 8), options.activations);
  const counts = Array.from({ length: rows }, () => {
    const distinct = Array.from({ length: Math.min(n, 24) }, () => rng.int(0, n - 1));
    const window = Array.from({ length: 64 }, () => distinct[rng.int(0, distinct.length - 1)]);
    return countTokens([...window, n + 5]);
  });
  const expected = new Float32Array(rows * n);
  counts.forEach((c, r) => {
    const row = logits.subarray(r * n, (r + 1) * n);
    expected.set(asActivations(penaltiesReference(row, c, settings), options.activations), r * n);
  });
  const entries = Penalties.entries(counts);
  const kernel = await Penalties.load(gpu, options);
  const s = settings;
  return checkAgainstReference(gpu, {
    kernel: 'penalties',
    variant: kernel.key.name,
    shape: `${rows}x${n} repeat ${s.repeat} freq ${s.frequency} presence ${s.presence}`,
    inputs: [entries],
    initialOut: logits,
    expected,
    limit: 1e-12,
    activations: options.activations,
    encode: (batch, [e], out) =>
      kernel.encode(batch, { logits: out, entries: e, count: entries.length / 3, n, settings }),
  });
}

/** A random mask over (rows, n) logits, some rows nearly closed, applied in place. */
export async function checkTokenMask(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const logits = asActivations(rng.floats(rows * n, 8), options.activations);
  const words = maskWords(n);
  const mask = new Uint32Array(rows * words);
  for (let r = 0; r < rows; r++) {
    // Row r allows about 1 token in 2^r (at least one).
    for (let w = 0; w < words; w++) {
      let word = rng.int(0, 0xffff) | (rng.int(0, 0xffff) << 16);
      for (let k = 0; k < r; k++) word &= rng.int(0, 0xffff) | (rng.int(0, 0xffff) << 16);
      mask[r * words + w] = word >>> 0;
    }
    mask[r * words] |= 1;
  }
  const kernel = await TokenMask.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: 'token_mask',
    variant: kernel.key.name,
    shape: `${rows}x${n}`,
    inputs: [mask],
    initialOut: logits,
    expected: tokenMaskReference(logits, mask, n),
    limit: 0,
    activations: options.activations,
    encode: (batch, [m], out) => kernel.encode(batch, { logits: out, mask: m, rows, n }),
  });
}

/**
 * A matmul input rounded as llama.cpp rounds it: random values at several scales, a block of
 * zeros (scale 0) and blocks whose largest magnitude is negative (q8_k keys on its sign).
 */
export async function checkDotInput(
  gpu: GpuContext,
  kind: Exclude<DotInput, 'f32'>,
  n: number,
  seed: number,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const x = rng.floats(n, 3);
  for (let i = 0; i < n; i++) x[i] *= 10 ** rng.int(-3, 2);
  x.fill(0, 0, Math.min(n, 256));
  for (let i = 256; i + 3 < n; i += 512) x[i + 3] = -50;
  const input = asActivations(x, options.activations);
  const kernel = await DotInputRounding.load(gpu, kind, options);
  if (kind === 'q8_1') {
    // The rounded values are q8_0's (checked there); this checks the corrections beside them.
    return checkAgainstReference(gpu, {
      kernel: 'dot_input q8_1 corrections',
      variant: kernel.key.name,
      shape: `${n}`,
      inputs: [{ act: input }, { act: new Float32Array(n) }],
      expected: q8_1Corrections(input),
      limit: 1e-12,
      activations: options.activations,
      f32Output: true,
      encode: (batch, [xBuf, rounded], out) =>
        kernel.encode(batch, { x: xBuf, out: rounded, n, corrections: out }),
    });
  }
  return checkAgainstReference(gpu, {
    kernel: `dot_input ${kind}`,
    variant: kernel.key.name,
    shape: `${n}`,
    inputs: [{ act: input }],
    expected: asActivations(dotInputReference(input, kind), options.activations),
    // The same roundings in f32; only a division's last bit may differ.
    limit: 1e-12,
    activations: options.activations,
    encode: (batch, [xBuf], out) => kernel.encode(batch, { x: xBuf, out, n }),
  });
}

/** How far (relative) the top-p goal is from the running sums either side of it; ∞ if off. */
function topPMargin(logits: Float32Array, s: SamplingSettings): number {
  if (s.temperature <= 0 || s.topP === undefined || s.topP >= 1) return Infinity;
  const top = logits.reduce((a, b) => Math.max(a, b), -Infinity);
  const kth =
    s.topK && s.topK < logits.length
      ? Float32Array.from(logits).sort().reverse()[s.topK - 1]
      : -Infinity;
  const f = Array.from(logits)
    .filter((x) => x >= kth)
    .map((x) => Math.exp(x - top))
    .sort((a, b) => b - a);
  const goal = s.topP * f.reduce((a, b) => a + b, 0);
  let cum = 0;
  for (const v of f) {
    if (cum + v >= goal) return Math.min(goal - cum, cum + v - goal) / goal;
    cum += v;
  }
  return 0;
}

export type KernelCase =
  | {
      kernel: 'matvec';
      format: QuantName;
      /** Vectors multiplied at once (1..8). */
      batch: number;
      fusion?: MatvecFusion;
      /** gate_up's activation (default silu). */
      activation?: 'gelu';
      /** How the kernel rounds x as it loads it (default f32: not at all). */
      input?: MatvecOptions['input'];
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
      /** The entry point (GemmOptions.shape): both run on every adapter. */
      entry: 'gpu' | 'cpu';
      /** x rounded to q8_1 first (GemmOptions.input; default f32). */
      input?: 'q8_1';
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
const FULL_CASE_FORMATS: readonly QuantName[] = [
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
    // Tiles are 32 x 32 over 32-value steps: shapes on, under and over the tile edges.
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
  return cases;
}

/**
 * For a second run on the same adapter, where the shapes are already covered: 'variant' keeps
 * the first case of each kernel × format × variant (fusion, input rounding, entry point,
 * rounding kind), every weight decode and every fused or rounding path, a third of the cases;
 * 'kernel' the first case of each kernel.
 */
export function representativeCases(
  per: 'variant' | 'kernel',
  cases: readonly KernelCase[] = kernelCases(),
): KernelCase[] {
  const seen = new Set<string>();
  return cases.filter((c) => {
    const v = c as Partial<Record<'format' | 'fusion' | 'input' | 'entry' | 'kind', string>>;
    const key =
      per === 'kernel'
        ? c.kernel
        : [c.kernel, v.format, v.fusion, v.input, v.entry, v.kind].join('|');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The formats whose dot products take q8_1 inputs (block offsets); cases after the rest. */
const Q8_1_FORMATS: readonly QuantName[] = ['Q4_1', 'Q5_1'];

/**
 * A format added after the first wave: its weight decode, which every weight-reading kernel
 * shares: matvec at one block, odd rows over several blocks, a batch of three, SwiGLU's pair;
 * GEMM over tile edges on both entry points; an embedding gather.
 */
function laterFormatCases(format: QuantName, next: () => number): KernelCase[] {
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

/** Whether the case compiles f16 code (f16 activations, or an f16 KV cache). */
export function needsF16(c: KernelCase, options: KernelOptions = {}): boolean {
  if (options.activations === 'f16') return true;
  const config =
    c.kernel === 'attention' ? c.scenario.config : 'config' in c ? c.config : undefined;
  return config?.kv === 'f16';
}

export function caseName(c: KernelCase): string {
  if (c.kernel === 'sample') {
    const s = c.settings;
    return `sample ${c.n} temperature ${s.temperature} top-k ${s.topK ?? 0} top-p ${s.topP ?? 1} min-p ${s.minP ?? 0}`;
  }
  if (c.kernel === 'attention') {
    const { config: a, sequences, mode, keysPerSplit } = c.scenario;
    const kind = mode === 'decode' ? 'decode' : `prefill from ${mode.prefillFrom}`;
    const extra =
      (a.window ? ` window ${a.window} sinks ${a.sinks ?? 0}` : '') +
      (a.softcap ? ` softcap ${a.softcap}` : '');
    const kv = a.kv ? ` ${a.kv} kv` : '';
    return `attention ${kind} ${a.heads}/${a.kvHeads}x${a.headDim} bt${a.blockTokens} kv[${sequences}]${extra}${kv} split ${keysPerSplit ?? 'default'}`;
  }
  if (c.kernel === 'matvec_qkv') {
    const q = c.qkv;
    return `matvec ${c.format} qkv${c.bias ? '_bias' : ''}${c.input ? ` in ${c.input}` : ''} m${c.batch} ${q.heads}+2x${q.kvHeads}x${q.headDim}/${q.ropeDims}${q.neox ? ' neox' : ''} cols ${c.cols}`;
  }
  if (c.kernel === 'kv_shift') {
    const k = c.config;
    return `kv_shift ${k.kvHeads}x${k.headDim}/${k.ropeDims}${k.neox ? ' neox' : ''} bt${k.blockTokens} ${k.kv ?? 'act'}`;
  }
  const shape = c.shape.join('x');
  switch (c.kernel) {
    case 'dot_input':
      return `dot_input ${c.kind} ${shape}`;
    case 'penalties': {
      const p = c.settings;
      return `penalties ${shape} repeat ${p.repeat} freq ${p.frequency} presence ${p.presence}`;
    }
    case 'kv_write':
      return `kv_write ${c.shape[1]} at ${c.shape[0]} ${c.config.kvHeads}x${c.config.headDim} bt${c.config.blockTokens}${c.config.kv ? ` ${c.config.kv}` : ''}`;
    case 'matvec':
      return `matvec ${c.format}${c.fusion ? ` ${c.fusion}` : ''}${c.activation ? ` ${c.activation}` : ''}${c.input ? ` in ${c.input}` : ''} m${c.batch} ${shape}`;

    case 'embedding':
      return `${c.kernel} ${c.format} ${shape}`;
    case 'gemm':
      return `gemm ${c.format}${c.input ? ` in ${c.input}` : ''} ${shape}`;
    case 'rope': {
      const r = c.rope;
      const extra = (r.yarn ? ' yarn' : '') + (c.freqFactors ? ' freq-factors' : '');
      return `rope ${c.shape[0]}x${r.heads}x${r.headDim}/${r.ropeDims}${r.neox ? ' neox' : ''} scale ${r.freqScale}${extra}`;
    }
    default:
      return `${c.kernel} ${shape}`;
  }
}

export function runKernelCase(
  gpu: GpuContext,
  c: KernelCase,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  switch (c.kernel) {
    case 'matvec':
      return checkMatvec(gpu, c.shape[0], c.shape[1], c.seed, {
        ...options,
        format: c.format,
        batch: c.batch,
        fusion: c.fusion,
        input: c.input,
        activation: c.activation,
      });
    case 'matvec_qkv':
      return checkMatvecQkv(gpu, c.qkv, c.cols, c.seed, {
        ...options,
        format: c.format,
        batch: c.batch,
        fusion: c.bias ? 'qkv_bias' : 'qkv',
        input: c.input,
      });
    case 'rms_norm':
      return checkRmsNorm(gpu, c.shape[0], c.shape[1], c.seed, options);
    case 'argmax':
      return checkArgmax(gpu, c.shape[0], c.shape[1], c.seed, options);
    case 'softmax':
      return checkSoftmax(gpu, c.shape[0], c.shape[1], c.seed, options);
    case 'silu_mul':
    case 'gelu_mul':
    case 'add':
    case 'add_rows':
      return checkElementwise(gpu, c.kernel, c.shape[0], c.seed, options);
    case 'scale':
    case 'softcap':
      return checkUnary(gpu, c.kernel, c.shape[0], c.value, c.seed, options);
    case 'rope':
      return checkRope(gpu, c.shape[0], c.rope, c.seed, options, c.freqFactors);
    case 'embedding':
      return checkEmbedding(gpu, c.format, ...c.shape, c.seed, options);
    case 'gemm':
      return checkGemm(gpu, ...c.shape, c.seed, {
        ...options,
        format: c.format,
        shape: c.entry,
        input: c.input,
      });
    case 'attention':
      return checkAttention(gpu, c.scenario, c.seed, options);
    case 'sample':
      return checkSample(gpu, c.n, c.settings, c.seed, options);
    case 'dot_input':
      return checkDotInput(gpu, c.kind, c.shape[0], c.seed, options);
    case 'penalties':
      return checkPenalties(gpu, ...c.shape, c.settings, c.seed, options);
    case 'kv_write':
      return checkKvWrite(gpu, c.config, ...c.shape, c.seed, options);
    case 'kv_shift':
      return checkKvShift(gpu, c.config, c.seed, options);
    case 'token_mask':
      return checkTokenMask(gpu, ...c.shape, c.seed, options);
  }
}

export async function runKernelChecks(
  gpu: GpuContext,
  cases = kernelCases(),
  options: KernelOptions = {},
): Promise<KernelCheckResult[]> {
  const results: KernelCheckResult[] = [];
  for (const c of cases) {
    if (needsF16(c, options) && !gpu.facts.features.shaderF16) continue;
    results.push(await runKernelCase(gpu, c, options));
  }
  return results;
}
