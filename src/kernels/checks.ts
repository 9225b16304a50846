import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { Rng } from '../util/rng.js';
import { quantFormats, randomWeights, type QuantName } from '../model/quant/index.js';
import { Matvec, type MatvecOptions } from './matvec.js';
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
  /** Records the kernel on `inputs` (uploaded, in order) writing to `out`. */
  encode(batch: ComputeBatch, inputs: GPUBuffer[], out: Binding): void;
}

type CheckInput = Float32Array | Uint8Array;

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
      kernel: 'rms_norm';
      /** (rows, n) */
      shape: [number, number];
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
  }
  return cases;
}

export function caseName(c: KernelCase): string {
  const shape = c.shape.join('x');
  return c.kernel === 'matvec' ? `matvec ${c.format} m${c.batch} ${shape}` : `${c.kernel} ${shape}`;
}

export function runKernelCase(gpu: GpuContext, c: KernelCase): Promise<KernelCheckResult> {
  const [a, b] = c.shape;
  return c.kernel === 'matvec'
    ? checkMatvec(gpu, a, b, c.seed, { format: c.format, batch: c.batch })
    : checkRmsNorm(gpu, a, b, c.seed);
}

export async function runKernelChecks(
  gpu: GpuContext,
  cases = kernelCases(),
): Promise<KernelCheckResult[]> {
  const results: KernelCheckResult[] = [];
  for (const c of cases) results.push(await runKernelCase(gpu, c));
  return results;
}
