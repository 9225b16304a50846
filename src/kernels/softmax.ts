import type { Binding, ComputeBatch } from '../gpu/batch.js';
import { workgroupGrid } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { packParams } from '../gpu/params.js';
import { rowReduceWorkgroup } from './tuning.js';
import { loadVariant, type KernelOptions, type LoadedVariant } from './variant.js';

/** x (rows, n) -> out (rows, n) = softmax(scale * x) per row; out must not alias x. */
export interface SoftmaxArgs {
  x: Binding;
  out: Binding;
  rows: number;
  n: number;
  /** 1 / temperature for sampling, 1 / sqrt(head_dim) for attention scores. */
  scale: number;
}

/** shaders/softmax.wgsl: numerically stable softmax (max subtracted), one workgroup per row. */
export class Softmax {
  private constructor(readonly variant: LoadedVariant) {}

  static async load(gpu: GpuContext, options?: KernelOptions): Promise<Softmax> {
    const spec = {
      family: 'softmax',
      activations: options?.activations,
      subgroups: gpu.facts.features.subgroups,
      workgroupSize: rowReduceWorkgroup(gpu.facts),
    };
    return new Softmax(await loadVariant(gpu, spec, options));
  }

  encode(batch: ComputeBatch, { x, out, rows, n, scale }: SoftmaxArgs): void {
    const { pipeline, maxWorkgroups } = this.variant;
    const params = packParams([{ u32: rows }, { u32: n }, { f32: scale }]);
    batch.dispatch(pipeline, params, [x, out], workgroupGrid(rows, maxWorkgroups));
  }
}
