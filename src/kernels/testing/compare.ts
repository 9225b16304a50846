import type { GpuContext } from '../../gpu/context.js';
import { f16ToF32, f32ToF16 } from '../../util/half.js';

/** How a kernel's output compared with its CPU reference. Plain data: crosses workers. */
export interface Comparison {
  /** Normalized mean squared error: sum((a - e)²) / sum(e²). 0 when both are all zero. */
  nmse: number;
  maxAbsError: number;
  /** NaN or ±Inf values in the output where the reference is finite. */
  nonFinite: number;
  /** Guard elements around the output that the kernel overwrote (out-of-bounds writes). */
  guardViolations: number;
  /** The NMSE limit this comparison was held to. */
  limit: number;
  passed: boolean;
}

export function compareToReference(
  actual: Float32Array,
  expected: Float32Array,
  limit: number,
  guardViolations = 0,
): Comparison {
  if (actual.length !== expected.length) {
    throw new Error(`output has ${actual.length} elements, reference ${expected.length}`);
  }
  let err = 0;
  let ref = 0;
  let maxAbsError = 0;
  let nonFinite = 0;
  for (let i = 0; i < actual.length; i++) {
    if (!Number.isFinite(actual[i]) && Number.isFinite(expected[i])) {
      nonFinite++;
      continue;
    }
    const d = actual[i] - expected[i];
    err += d * d;
    ref += expected[i] * expected[i];
    maxAbsError = Math.max(maxAbsError, Math.abs(d));
  }
  const nmse = ref === 0 ? (err === 0 ? 0 : Infinity) : err / ref;
  return {
    nmse,
    maxAbsError,
    nonFinite,
    guardViolations,
    limit,
    passed: nmse <= limit && nonFinite === 0 && guardViolations === 0,
  };
}

/** A bit pattern no kernel writes by accident: a quiet NaN with a payload. */
const GUARD_BITS = 0x7fc0dead;

/**
 * An output buffer (f32, or f16 for f16 activations) with guard regions before and after it,
 * filled with GUARD_BITS. Bind `binding`; after the kernel ran, read() returns the output as
 * f32 and counts overwritten guards (the unused half of an odd-length f16 output counts too).
 * The front guard is one storage-offset alignment long, so the binding offset stays aligned.
 * The binding runs on through the back guard: WebGPU's robust buffer access drops or clamps
 * writes past the end of a binding, so a binding of exactly the output would hide the very
 * out-of-bounds writes the guard is there to catch.
 */
export class GuardedOutput {
  private constructor(
    private readonly gpu: GpuContext,
    readonly buffer: GPUBuffer,
    readonly length: number,
    private readonly guard: number,
    private readonly elementBytes: 2 | 4,
    private readonly initialWords: Uint32Array,
  ) {}

  /**
   * `initial` fills the output first (in-place kernels); guards are filled either way. With
   * elementBytes 2 the values are stored as f16 (round them to f16 first to keep them exact).
   */
  static async create(
    gpu: GpuContext,
    length: number,
    label: string,
    initial?: Float32Array,
    elementBytes: 2 | 4 = 4,
  ): Promise<GuardedOutput> {
    const guard = gpu.facts.limits.minStorageBufferOffsetAlignment / 4;
    const outputWords = Math.ceil((length * elementBytes) / 4);
    const words = new Uint32Array(guard + outputWords + guard).fill(GUARD_BITS);
    if (initial && elementBytes === 4) {
      words.set(new Uint32Array(initial.buffer, initial.byteOffset, length), guard);
    } else if (initial) {
      const halves = new Uint16Array(words.buffer, guard * 4, length);
      for (let i = 0; i < length; i++) halves[i] = f32ToF16(initial[i]);
    }
    const buffer = await gpu.upload(words, label);
    return new GuardedOutput(gpu, buffer, length, guard, elementBytes, words);
  }

  private get outputWords(): number {
    return Math.ceil((this.length * this.elementBytes) / 4);
  }

  get binding(): { buffer: GPUBuffer; offset: number; size: number } {
    const size = (this.outputWords + this.guard) * 4;
    return { buffer: this.buffer, offset: this.guard * 4, size };
  }

  async read(): Promise<{ values: Float32Array; guardViolations: number }> {
    const bits = new Uint32Array(await this.gpu.read(this.buffer));
    let guardViolations = 0;
    const back = this.guard + this.outputWords;
    for (let i = 0; i < this.guard; i++) {
      if (bits[i] !== GUARD_BITS) guardViolations++;
      if (bits[back + i] !== GUARD_BITS) guardViolations++;
    }
    if (this.elementBytes === 4) {
      return {
        values: new Float32Array(bits.buffer, this.guard * 4, this.length).slice(),
        guardViolations,
      };
    }
    const halves = new Uint16Array(bits.buffer, this.guard * 4, this.outputWords * 2);
    if (this.length % 2 === 1) {
      const initial = new Uint16Array(
        this.initialWords.buffer,
        this.guard * 4,
        this.outputWords * 2,
      );
      if (halves[this.length] !== initial[this.length]) guardViolations++;
    }
    const values = Float32Array.from(halves.subarray(0, this.length), f16ToF32);
    return { values, guardViolations };
  }

  destroy(): void {
    this.buffer.destroy();
  }
}
