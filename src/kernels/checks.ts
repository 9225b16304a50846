import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { Rng } from '../util/rng.js';
import { Matvec } from './matvec.js';
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
  inputs: Float32Array[];
  expected: Float32Array;
  limit: number;
  /** Records the kernel on `inputs` (uploaded, in order) writing to `out`. */
  encode(batch: ComputeBatch, inputs: GPUBuffer[], out: Binding): void;
}

async function checkAgainstReference(gpu: GpuContext, spec: CheckSpec): Promise<KernelCheckResult> {
  const buffers: GPUBuffer[] = [];
  let out: GuardedOutput | undefined;
  try {
    for (const [i, input] of spec.inputs.entries()) {
      buffers.push(await gpu.upload(input, `check:${spec.kernel}:in${i}`));
    }
    out = await GuardedOutput.create(gpu, spec.expected.length, `check:${spec.kernel}:out`);
    const batch = gpu.batch(`check:${spec.kernel}`);
    spec.encode(batch, buffers, out.binding);
    await batch.submit();
    const { values, guardViolations } = await out.read();
    const comparison = compareToReference(values, spec.expected, spec.limit, guardViolations);
    return { kernel: spec.kernel, variant: spec.variant, shape: spec.shape, ...comparison };
  } finally {
    for (const buffer of buffers) buffer.destroy();
    out?.destroy();
  }
}

export async function checkMatvec(
  gpu: GpuContext,
  rows: number,
  cols: number,
  seed: number,
  options?: KernelOptions,
): Promise<KernelCheckResult> {
  const rng = new Rng(seed);
  const w = rng.floats(rows * cols);
  const x = rng.floats(cols);
  const kernel = await Matvec.load(gpu, options);
  return checkAgainstReference(gpu, {
    kernel: 'matvec',
    variant: kernel.variant.key.name,
    shape: `${rows}x${cols}`,
    inputs: [w, x],
    expected: matvecReference(w, x, rows, cols),
    limit: F32_NMSE_LIMIT,
    encode: (batch, [wBuf, xBuf], out) =>
      kernel.encode(batch, { w: wBuf, x: xBuf, out, rows, cols }),
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

export interface KernelCase {
  kernel: 'matvec' | 'rms_norm';
  /** (rows, cols) for matvec, (rows, n) for rms_norm. */
  shape: [number, number];
  seed: number;
}

/**
 * The fixed cases (edge sizes: 1, odd, not a multiple of the workgroup, longer than it) plus
 * `random` seeded random shapes per kernel. The same seed gives the same cases everywhere.
 */
export function kernelCases(seed = 1, random = 6): KernelCase[] {
  const fixed: [number, number][] = [
    [1, 1],
    [1, 7],
    [7, 13],
    [64, 256],
    [33, 1000],
    [300, 257],
    [5, 4099],
  ];
  const rng = new Rng(seed);
  const cases: KernelCase[] = [];
  for (const kernel of ['matvec', 'rms_norm'] as const) {
    const shapes = [...fixed];
    for (let i = 0; i < random; i++) shapes.push([rng.int(1, 200), rng.int(1, 3000)]);
    shapes.forEach((shape, i) => cases.push({ kernel, shape, seed: seed * 1000 + i }));
  }
  return cases;
}

export function runKernelCase(gpu: GpuContext, c: KernelCase): Promise<KernelCheckResult> {
  const [a, b] = c.shape;
  return c.kernel === 'matvec' ? checkMatvec(gpu, a, b, c.seed) : checkRmsNorm(gpu, a, b, c.seed);
}

export async function runKernelChecks(
  gpu: GpuContext,
  cases = kernelCases(),
): Promise<KernelCheckResult[]> {
  const results: KernelCheckResult[] = [];
  for (const c of cases) results.push(await runKernelCase(gpu, c));
  return results;
}
