// Checks of the row and element kernels: RMSNorm, softmax, the elementwise and unary ops,
// and the embedding lookup.
import type { GpuContext } from '../../gpu/context.js';
import { Rng } from '../../util/rng.js';
import { quantFormats, randomWeights, type QuantName } from '../../quant/index.js';
import { Elementwise, Unary, type ElementwiseOp, type UnaryOp } from '../elementwise.js';
import { Embedding } from '../embedding.js';
import {
  addReference,
  siluMulReference,
  geluMulReference,
  softmaxReference,
} from '../reference/elementwise.js';
import { embeddingReference } from '../reference/embedding.js';
import { Softmax } from '../softmax.js';
import { rmsNormReference } from '../reference/rms-norm.js';
import { RmsNorm } from '../rms-norm.js';
import type { KernelOptions } from '../variant.js';
import {
  type KernelCheckResult,
  F32_NMSE_LIMIT,
  asActivations,
  checkAgainstReference,
  rowLength,
} from './harness.js';

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
