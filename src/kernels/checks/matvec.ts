// Checks of the weight-reading kernels: matvec (every fusion and input rounding), the fused
// q/k/v projection, the prefill GEMM, and the dot-input rounding pass.
import type { Binding } from '../../gpu/batch.js';
import type { GpuContext } from '../../gpu/context.js';
import { Rng } from '../../util/rng.js';
import { quantFormats, randomWeights } from '../../quant/index.js';
import { Gemm, type GemmOptions } from '../gemm.js';
import { Matvec, type MatvecOptions } from '../matvec.js';
import { geluGgml } from '../reference/elementwise.js';
import { ropeCache } from '../rope-angles.js';
import { ropeReference } from '../reference/rope.js';
import { type RopeConfig } from '../rope.js';
import { DotInputRounding } from '../dot-input.js';
import { dotInputReference, q8_1Corrections } from '../reference/dot-input.js';
import { type DotInput } from '../../quant/dot-input.js';
import type { KernelOptions } from '../variant.js';
import {
  type KernelCheckResult,
  F32_NMSE_LIMIT,
  asActivations,
  referenceProducts,
  q8kEdges,
  checkAgainstReference,
} from './harness.js';

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
  const x = asActivations(q8kEdges(rng.floats(m * k), input), options.activations);
  const dense = quantFormats[format].dequantize(weights, n * k);
  const kernel = await Gemm.load(gpu, options);
  // q8_1: x rounded by its pass (with the corrections); the others as the GEMM stages it.
  const rounded = input === 'q8_1';
  return checkAgainstReference(gpu, {
    kernel: `gemm ${format}${input === 'f32' ? '' : ` in ${input}`}`,
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
