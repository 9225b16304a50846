import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { loadVariant, type KernelOptions } from './variant.js';
import { ARGMAX_WORKGROUP } from './tuning.js';

/** logits (rows, n) f32 -> ids (rows,) u32, the index of each row's largest logit. */
export interface ArgmaxArgs {
  logits: Binding;
  ids: Binding;
  rows: number;
  n: number;
}

/** shaders/argmax.wgsl: greedy sampling on the GPU; only the token ids are read back. */
export class Argmax {
  private constructor(
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
  ) {}

  static async load(gpu: GpuContext, options: KernelOptions = {}): Promise<Argmax> {
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'argmax',
      activations: options.activations,
      workgroupSize: ARGMAX_WORKGROUP,
    });
    return new Argmax(key, pipeline);
  }

  encode(batch: ComputeBatch, { logits, ids, rows, n }: ArgmaxArgs): void {
    batch.dispatch(this.pipeline, new Uint32Array([rows, n, 0, 0]), [logits, ids], [rows]);
  }
}
