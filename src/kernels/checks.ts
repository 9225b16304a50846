import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { Rng } from '../util/rng.js';
import { quantFormats, randomWeights, type QuantName } from '../model/quant/index.js';
import { Argmax } from './argmax.js';
import { Elementwise, type ElementwiseOp } from './elementwise.js';
import { Embedding } from './embedding.js';
import { Gemm, type GemmOptions } from './gemm.js';
import { gemmReference } from './reference/gemm.js';
import { Matvec, type MatvecOptions } from './matvec.js';
import {
  addReference,
  argmaxReference,
  siluMulReference,
  softmaxReference,
} from './reference/elementwise.js';
import { embeddingReference } from './reference/embedding.js';
import { ropeReference } from './reference/rope.js';
import { Rope, type RopeConfig } from './rope.js';
import { Softmax } from './softmax.js';
import { matvecReference } from './reference/matvec.js';
import { rmsNormReference } from './reference/rms-norm.js';
import { RmsNorm } from './rms-norm.js';
import type { KernelOptions } from './variant.js';
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
  /** Records the kernel on `inputs` (uploaded, in order) writing to `out`. */
  encode(batch: ComputeBatch, inputs: GPUBuffer[], out: Binding): void;
}

type CheckInput = Float32Array | Uint8Array | Uint32Array;

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
    for (const [i, input] of spec.inputs.entries()) {
      buffers.push(await gpu.upload(input, `check:${spec.kernel}:in${i}`));
    }
    out = await GuardedOutput.create(
      gpu,
      spec.expected.length,
      `check:${spec.kernel}:out`,
      spec.initialOut,
    );
    const batch = gpu.batch(`check:${spec.kernel}`);
    spec.encode(batch, buffers, out.binding);
    await batch.submit();
    const { values, guardViolations } = await out.read();
    const comparison = spec.exactIds
      ? compareIds(values, spec.expected, guardViolations)
      : compareToReference(values, spec.expected, spec.limit, guardViolations);
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
  const { format = 'F32', batch = 1 } = options;
  const rng = new Rng(seed);
  const weights = randomWeights(quantFormats[format], rng, rows * cols);
  const x = rng.floats(batch * cols);
  const dense = quantFormats[format].dequantize(weights, rows * cols);
  const expected = new Float32Array(batch * rows);
  for (let m = 0; m < batch; m++) {
    expected.set(
      matvecReference(dense, x.subarray(m * cols, (m + 1) * cols), rows, cols),
      m * rows,
    );
  }
  const kernel = await Matvec.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: 'matvec',
    variant: kernel.variant.key.name,
    shape: batch > 1 ? `${batch}x${rows}x${cols}` : `${rows}x${cols}`,
    inputs: [weights, x],
    expected,
    limit: F32_NMSE_LIMIT,
    encode: (b, [w, xBuf], out) => kernel.encode(b, { w, x: xBuf, out, rows, cols }),
  });
}

export async function checkRmsNorm(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
  options?: KernelOptions,
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const x = rng.floats(rows * n, 4);
  const weight = rng.floats(n);
  const eps = 1e-5;
  const kernel = await RmsNorm.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: 'rms_norm',
    variant: kernel.variant.key.name,
    shape: `${rows}x${n}`,
    inputs: [x, weight],
    expected: rmsNormReference(x, weight, rows, n, eps),
    limit: F32_NMSE_LIMIT,
    encode: (batch, [xBuf, wBuf], out) =>
      kernel.encode(batch, { x: xBuf, weight: wBuf, out, rows, n, eps }),
  });
}

/** Prefill GEMM against dequantize-then-f32, weights past a binding split when asked. */
export async function checkGemm(
  gpu: GpuContext,
  m: number,
  n: number,
  k: number,
  seed: number,
  options: GemmOptions = {},
): Promise<KernelCheckResult> {
  const { format = 'F32' } = options;
  const rng = new Rng(seed);
  const weights = randomWeights(quantFormats[format], rng, n * k);
  const x = rng.floats(m * k);
  const dense = quantFormats[format].dequantize(weights, n * k);
  const kernel = await Gemm.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: `gemm ${format}`,
    variant: kernel.key.name,
    shape: `${m}x${n}x${k}`,
    inputs: [weights, x],
    expected: gemmReference(x, dense, m, n, k),
    limit: F32_NMSE_LIMIT,
    encode: (b, [w, xBuf], out) => kernel.encode(b, { w, x: xBuf, out, m, n, k }),
  });
}

export async function checkSoftmax(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const x = rng.floats(rows * n, 20);
  const scale = 0.7;
  const kernel = await Softmax.load(gpu);
  return checkAgainstReference(gpu, {
    kernel: 'softmax',
    variant: kernel.variant.key.name,
    shape: `${rows}x${n}`,
    inputs: [x],
    expected: softmaxReference(x, rows, n, scale),
    limit: F32_NMSE_LIMIT,
    encode: (b, [xBuf], out) => kernel.encode(b, { x: xBuf, out, rows, n, scale }),
  });
}

/** RoPE in place on (tokens, heads, headDim) at random positions. */
export async function checkRope(
  gpu: GpuContext,
  tokens: number,
  config: RopeConfig,
  seed: number,
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const x = rng.floats(tokens * config.heads * config.headDim);
  const positions = Uint32Array.from({ length: tokens }, () => rng.int(0, 4095));
  const kernel = await Rope.load(gpu, config);
  return checkAgainstReference(gpu, {
    kernel: 'rope',
    variant: kernel.key.name,
    shape: `${tokens}x${config.heads}x${config.headDim}/${config.ropeDims}${config.neox ? ' neox' : ''}`,
    inputs: [positions],
    initialOut: x,
    expected: ropeReference(x, positions, config),
    // Angles up to 4095 rad: f32 sin/cos of large arguments carry ~1e-4 relative error.
    limit: 1e-7,
    encode: (b, [pos], out) => kernel.encode(b, { x: out, positions: pos, tokens }),
  });
}

export async function checkElementwise(
  gpu: GpuContext,
  op: ElementwiseOp,
  n: number,
  seed: number,
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const a = rng.floats(n, 6);
  const b = rng.floats(n, 2);
  const kernel = await Elementwise.load(gpu, op);
  return checkAgainstReference(gpu, {
    kernel: op,
    variant: kernel.key.name,
    shape: `${n}`,
    inputs: [a, b],
    expected: op === 'add' ? addReference(a, b) : siluMulReference(a, b),
    limit: 1e-12,
    encode: (batch, [aBuf, bBuf], out) => kernel.encode(batch, { a: aBuf, b: bBuf, out, n }),
  });
}

export async function checkEmbedding(
  gpu: GpuContext,
  format: QuantName,
  vocab: number,
  dim: number,
  tokens: number,
  seed: number,
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const table = randomWeights(quantFormats[format], rng, vocab * dim);
  // Mostly real ids, one past the vocabulary (it must read as zeros).
  const ids = Uint32Array.from({ length: tokens }, (_, t) =>
    t === 1 ? vocab + 3 : rng.int(0, vocab - 1),
  );
  const kernel = await Embedding.load(gpu, format);
  return checkAgainstReference(gpu, {
    kernel: `embedding ${format}`,
    variant: kernel.key.name,
    shape: `${tokens} of ${vocab}x${dim}`,
    inputs: [table, ids],
    expected: embeddingReference(quantFormats[format], table, vocab, dim, ids),
    // A gather: the kernel decodes exactly what the CPU decodes.
    limit: 1e-14,
    encode: (batch, [t, i], out) =>
      kernel.encode(batch, { table: t, ids: i, out, tokens, vocab, dim }),
  });
}

export async function checkArgmax(
  gpu: GpuContext,
  rows: number,
  n: number,
  seed: number,
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  // Coarse values, so ties happen and must go to the lowest index.
  const logits = Float32Array.from({ length: rows * n }, () => rng.int(-50, 50) / 4);
  const kernel = await Argmax.load(gpu);
  const expected = argmaxReference(logits, rows, n);
  return checkAgainstReference(gpu, {
    kernel: 'argmax',
    variant: kernel.key.name,
    shape: `${rows}x${n}`,
    inputs: [logits],
    expected: new Float32Array(expected.buffer),
    limit: 0,
    exactIds: true,
    encode: (batch, [l], ids) => kernel.encode(batch, { logits: l, ids, rows, n }),
  });
}

export type KernelCase =
  | {
      kernel: 'matvec';
      format: QuantName;
      /** Vectors multiplied at once (1..8). */
      batch: number;
      /** (rows, cols) */
      shape: [number, number];
      seed: number;
    }
  | {
      kernel: 'rms_norm' | 'argmax' | 'softmax';
      /** (rows, n) */
      shape: [number, number];
      seed: number;
    }
  | { kernel: 'silu_mul' | 'add'; shape: [number]; seed: number }
  | { kernel: 'rope'; shape: [number]; rope: RopeConfig; seed: number }
  | {
      kernel: 'gemm';
      format: QuantName;
      /** (m, n, k) */
      shape: [number, number, number];
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

  for (const format of Object.keys(quantFormats) as QuantName[]) {
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
    cases.push({ kernel: 'embedding', format, shape: [37, dense ? 45 : block, 5], seed: next() });
    // Tiles are 32 x 32 over 32-value steps: shapes on, under and over the tile edges.
    const gemmShapes: [number, number, number][] = [
      [1, 1, block],
      [5, 37, 2 * block],
      [32, 32, block],
      [33, 70, 3 * block],
    ];
    if (dense) gemmShapes.push([7, 45, 13], [40, 33, 100]);
    for (const shape of gemmShapes) cases.push({ kernel: 'gemm', format, shape, seed: next() });
    cases.push({ kernel: 'embedding', format, shape: [300, 2 * block, 9], seed: next() });
  }

  for (const n of [1, 7, 256, 1000, 4099, 70_001]) {
    cases.push({ kernel: 'silu_mul', shape: [n], seed: next() });
    cases.push({ kernel: 'add', shape: [n], seed: next() });
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
  const argmaxShapes: [number, number][] = [
    [1, 1],
    [1, 7],
    [3, 1000],
    [2, 32_000],
    [1, 151_936],
  ];
  for (const shape of argmaxShapes) {
    cases.push({ kernel: 'argmax', shape, seed: next() });
    cases.push({ kernel: 'softmax', shape, seed: next() });
  }
  return cases;
}

export function caseName(c: KernelCase): string {
  const shape = c.shape.join('x');
  switch (c.kernel) {
    case 'matvec':
      return `matvec ${c.format} m${c.batch} ${shape}`;
    case 'embedding':
    case 'gemm':
      return `${c.kernel} ${c.format} ${shape}`;
    case 'rope': {
      const r = c.rope;
      return `rope ${c.shape[0]}x${r.heads}x${r.headDim}/${r.ropeDims}${r.neox ? ' neox' : ''} scale ${r.freqScale}`;
    }
    default:
      return `${c.kernel} ${shape}`;
  }
}

export function runKernelCase(gpu: GpuContext, c: KernelCase): Promise<KernelCheckResult> {
  switch (c.kernel) {
    case 'matvec':
      return checkMatvec(gpu, c.shape[0], c.shape[1], c.seed, { format: c.format, batch: c.batch });
    case 'rms_norm':
      return checkRmsNorm(gpu, c.shape[0], c.shape[1], c.seed);
    case 'argmax':
      return checkArgmax(gpu, c.shape[0], c.shape[1], c.seed);
    case 'softmax':
      return checkSoftmax(gpu, c.shape[0], c.shape[1], c.seed);
    case 'silu_mul':
    case 'add':
      return checkElementwise(gpu, c.kernel, c.shape[0], c.seed);
    case 'rope':
      return checkRope(gpu, c.shape[0], c.rope, c.seed);
    case 'embedding':
      return checkEmbedding(gpu, c.format, ...c.shape, c.seed);
    case 'gemm':
      return checkGemm(gpu, ...c.shape, c.seed, { format: c.format });
  }
}

export async function runKernelChecks(
  gpu: GpuContext,
  cases = kernelCases(),
): Promise<KernelCheckResult[]> {
  const results: KernelCheckResult[] = [];
  for (const c of cases) results.push(await runKernelCase(gpu, c));
  return results;
}
