// Checks of the paged-cache kernels: attention (decode, prefill, windows, sinks, KV formats),
// the KV write and shift, and RoPE.
import type { GpuContext } from '../../gpu/context.js';
import { f32ToF16, roundToF16 } from '../../util/half.js';
import { Rng } from '../../util/rng.js';
import {
  Attention,
  KvShift,
  KvWrite,
  type AttentionConfig,
  type AttentionQuery,
  type KvShiftConfig,
} from '../attention.js';
import {
  attentionReference,
  kvShiftReference,
  kvWriteReference,
  packInt8Cache,
  unpackInt8Cache,
} from '../reference/attention.js';
import { ropeReference } from '../reference/rope.js';
import { Rope, type RopeConfig } from '../rope.js';
import type { KernelOptions } from '../variant.js';
import { compareToReference, GuardedOutput } from '../testing/compare.js';
import {
  type KernelCheckResult,
  F32_NMSE_LIMIT,
  asActivations,
  type CheckInput,
  checkAgainstReference,
} from './harness.js';

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
