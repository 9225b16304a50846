import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { packParams } from '../gpu/params.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { itemGrid } from './elementwise.js';
import { ropeMscale, yarnCorrDims, type RopeConfig, type YarnConfig } from './reference/rope.js';
import { ELEMENTWISE_WORKGROUP } from './tuning.js';
import { pipelineKey, type KernelOptions } from './variant.js';

export type { RopeConfig, YarnConfig };

/** x (tokens, heads, headDim) rotated in place by positions (tokens,) u32. */
export interface RopeArgs {
  x: Binding;
  positions: Binding;
  tokens: number;
  /** (ropeDims / 2,) f32 divisors of each pair's frequency (Llama 3.1's rope_freqs), if any. */
  freqFactors?: Binding;
}

/**
 * shaders/rope.wgsl: rotary embedding as llama.cpp computes it: normal or NeoX pairs, linear
 * scaling, YaRN, per-pair frequency factors.
 */
export class Rope {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
    readonly config: RopeConfig,
    /** Bound when a dispatch has no frequency factors (the shader reads them as 1). */
    private readonly noFactors: GPUBuffer,
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
    const key = pipelineKey(gpu.facts, {
      family: 'rope',
      activations: options.activations,
      workgroupSize: ELEMENTWISE_WORKGROUP,
    });
    const noFactors = await gpu.upload(new Float32Array([1]), 'rope:no_freq_factors');
    return new Rope(gpu, key, await gpu.pipelines.get(key), config, noFactors);
  }

  /** Field for field with `struct Params` in rope.wgsl. */
  static params(tokens: number, c: RopeConfig, hasFreqFactors: boolean): Uint8Array {
    const [low, high] = c.yarn ? yarnCorrDims(c.ropeDims, c.freqBase, c.yarn) : [0, 0];
    return packParams([
      { u32: tokens },
      { u32: c.heads },
      { u32: c.headDim },
      { u32: c.ropeDims },
      { f32: c.freqBase },
      { f32: c.freqScale },
      { u32: c.neox ? 1 : 0 },
      { u32: hasFreqFactors ? 1 : 0 },
      { f32: c.yarn?.extFactor ?? 0 },
      { f32: low },
      { f32: high },
      { f32: ropeMscale(c) },
    ]);
  }

  encode(batch: ComputeBatch, { x, positions, tokens, freqFactors }: RopeArgs): void {
    const pairs = tokens * this.config.heads * (this.config.ropeDims / 2);
    batch.dispatch(
      this.pipeline,
      Rope.params(tokens, this.config, freqFactors !== undefined),
      [x, positions, freqFactors ?? this.noFactors],
      itemGrid(this.gpu, pairs, ELEMENTWISE_WORKGROUP),
    );
  }
}
