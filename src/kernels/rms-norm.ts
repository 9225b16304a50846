import type { Binding, ComputeBatch } from '../gpu/batch.js';
import { workgroupGrid } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { packParams } from '../gpu/params.js';
import { rowReduceWorkgroup } from './tuning.js';
import { loadVariant, type KernelOptions, type LoadedVariant } from './variant.js';

/** x (rows, n), weight (n,) f32 -> out (rows, n); out must not alias x. */
export interface RmsNormArgs {
  x: Binding;
  weight: Binding;
  out: Binding;
  rows: number;
  n: number;
  /** Added to the mean square before the root (llama: 1e-5 or 1e-6, from the GGUF). */
  eps: number;
}

/** shaders/rms_norm.wgsl: RMSNorm with a learned scale, one workgroup per row. */
export class RmsNorm {
  private constructor(readonly variant: LoadedVariant) {}

  static async load(gpu: GpuContext, options?: KernelOptions): Promise<RmsNorm> {
    const spec = {
      family: 'rms_norm',
      activations: options?.activations,
      subgroups: gpu.facts.features.subgroups,
      workgroupSize: rowReduceWorkgroup(gpu.facts),
    };
    return new RmsNorm(await loadVariant(gpu, spec, options));
  }

  /** Field for field with `struct Params` in rms_norm.wgsl. */
  static params(rows: number, n: number, eps: number): Uint8Array {
    return packParams([{ u32: rows }, { u32: n }, { f32: eps }]);
  }

  encode(batch: ComputeBatch, { x, weight, out, rows, n, eps }: RmsNormArgs): void {
    const { pipeline, maxWorkgroups } = this.variant;
    batch.dispatch(
      pipeline,
      RmsNorm.params(rows, n, eps),
      [x, weight, out],
      workgroupGrid(rows, maxWorkgroups),
    );
  }
}
