import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { itemGrid } from './elementwise.js';
import { ropeCache, type RopeConfig, type YarnConfig } from './rope-angles.js';
import { ELEMENTWISE_WORKGROUP } from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';

export type { RopeConfig, YarnConfig };

/** x (tokens, heads, headDim) rotated in place by the angles of `cache` (Rope.cache). */
export interface RopeArgs {
  x: Binding;
  /** (tokens, ropeDims / 2, 2) f32: cos and sin per pair, from Rope.cache. */
  cache: Binding;
  tokens: number;
}

/**
 * shaders/rope.wgsl: rotary embedding as llama.cpp computes it: normal or NeoX pairs, linear
 * scaling, YaRN, per-pair frequency factors. The angles' cos and sin come from the host
 * (Rope.cache), computed in llama.cpp's f32 steps, so positions rotate bit for bit alike.
 */
export class Rope {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
    readonly config: RopeConfig,
  ) {}

  static async load(
    gpu: GpuContext,
    config: RopeConfig,
    options: KernelOptions = {},
  ): Promise<Rope> {
    if (config.ropeDims % 2 !== 0 || config.ropeDims > config.headDim) {
      throw new RangeError(
        `rope dims must be even and ≤ head dim ${config.headDim}, got ${config.ropeDims}`,
      );
    }
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'rope',
      activations: options.activations,
      workgroupSize: ELEMENTWISE_WORKGROUP,
    });
    return new Rope(gpu, key, pipeline, config);
  }

  /** The cos/sin table for `positions` (ropeCache): upload it and pass it to encode(). */
  cache(positions: ArrayLike<number>, freqFactors?: Float32Array): Float32Array {
    return ropeCache(positions, this.config, freqFactors);
  }

  encode(batch: ComputeBatch, { x, cache, tokens }: RopeArgs): void {
    const c = this.config;
    const pairs = tokens * c.heads * (c.ropeDims / 2);
    batch.dispatch(
      this.pipeline,
      new Uint32Array([tokens, c.heads, c.headDim, c.ropeDims, c.neox ? 1 : 0, 0, 0, 0]),
      [x, cache],
      itemGrid(this.gpu, pairs, ELEMENTWISE_WORKGROUP),
    );
  }
}
