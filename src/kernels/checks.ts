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
  const wBuf = await gpu.upload(w, 'check:w');
  const xBuf = await gpu.upload(x, 'check:x');
  const out = await GuardedOutput.create(gpu, rows, 'check:out');
  try {
    const batch = gpu.batch('check:matvec');
    kernel.encode(batch, { w: wBuf, x: xBuf, out: out.binding, rows, cols });
    await batch.submit();
    const { values, guardViolations } = await out.read();
    const comparison = compareToReference(
      values,
      matvecReference(w, x, rows, cols),
      F32_NMSE_LIMIT,
      guardViolations,
    );
    return {
      kernel: 'matvec',
      variant: kernel.variant.key.name,
      shape: `${rows}x${cols}`,
      ...comparison,
    };
  } finally {
    wBuf.destroy();
    xBuf.destroy();
    out.destroy();
  }
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
  const xBuf = await gpu.upload(x, 'check:x');
  const wBuf = await gpu.upload(weight, 'check:weight');
  const out = await GuardedOutput.create(gpu, rows * n, 'check:out');
  try {
    const batch = gpu.batch('check:rms_norm');
    kernel.encode(batch, { x: xBuf, weight: wBuf, out: out.binding, rows, n, eps });
    await batch.submit();
    const { values, guardViolations } = await out.read();
    const expected = rmsNormReference(x, weight, rows, n, eps);
    const comparison = compareToReference(values, expected, F32_NMSE_LIMIT, guardViolations);
    return {
      kernel: 'rms_norm',
      variant: kernel.variant.key.name,
      shape: `${rows}x${n}`,
      ...comparison,
    };
  } finally {
    xBuf.destroy();
    wBuf.destroy();
    out.destroy();
  }
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
