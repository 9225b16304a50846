// What every kernel check shares: the result type, NMSE limits, activations as the kernel sees
// them, the products llama.cpp's rounding gives, and the run-upload-compare harness.
import type { Binding, ComputeBatch } from '../../gpu/batch.js';
import type { GpuContext } from '../../gpu/context.js';
import { f32ToF16, roundToF16 } from '../../util/half.js';
import { quantFormats, type QuantName } from '../../quant/index.js';
import { dotInputReference, q8_1Corrections, q8_1OffsetTerms } from '../reference/dot-input.js';
import { type DotInput } from '../../quant/dot-input.js';
import { matvecReference } from '../reference/matvec.js';
import type { Activations } from '../variant.js';
import { compareToReference, GuardedOutput, type Comparison } from '../testing/compare.js';

export interface KernelCheckResult extends Comparison {
  kernel: string;
  /** The pipeline variant that ran, e.g. matvec_f32_sg_wg256. */
  variant: string;
  shape: string;
}

/** NMSE limits for f32 kernels: f32 accumulation against an f64 reference over ≤ 4k terms. */
export const F32_NMSE_LIMIT = 1e-10;

/**
 * The limit for f16 activations: inputs are f16 exactly (the reference sees the same values),
 * math is f32, and each output is rounded once to f16 (relative error ≤ 2⁻¹¹, NMSE ~1e-7).
 */
export const F16_NMSE_LIMIT = 1e-5;

/** `values` as the kernel will see them: rounded to f16 for f16 activations. */
export function asActivations(
  values: Float32Array,
  activations: Activations = 'f32',
): Float32Array {
  return activations === 'f16' ? values.map(roundToF16) : values;
}

/**
 * W (rows, cols) · x[m] for each vector of x (m, cols) as llama.cpp computes it against weights
 * in `format` for `input`: x rounded first, and for q8_1 each block's offset meeting the
 * block's f16 sum (q8_1OffsetTerms). The weights are those the kernel decodes (`dense`, the
 * format's CPU dequantize of `weights`), never the floats they came from; sums in f64.
 */
export function referenceProducts(
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
export function q8kEdges(x: Float32Array, input: DotInput): Float32Array {
  return input === 'q8_k' ? x.fill(0, x.length - 256) : x;
}

/** One kernel run on uploaded inputs into a guarded output, compared with its reference. */
export interface CheckSpec {
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
export type CheckInput = Float32Array | Uint8Array | Uint32Array | { act: Float32Array };

/** Ids (as the bits of f32 arrays) must match exactly. */
export function compareIds(
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

export async function checkAgainstReference(
  gpu: GpuContext,
  spec: CheckSpec,
): Promise<KernelCheckResult> {
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

/** The largest divisor of n up to 257: a row length for add_rows cases. */
export function rowLength(n: number): number {
  for (let d = Math.min(n, 257); d > 1; d--) if (n % d === 0) return d;
  return 1;
}
