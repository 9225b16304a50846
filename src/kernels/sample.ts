import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { packParams } from '../gpu/params.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { SAMPLE_WORKGROUP } from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';

/** How one sequence samples its next token, llama.cpp's way (filters before temperature). */
export interface SamplingSettings {
  /** ≤ 0: greedy. */
  temperature: number;
  /** Keep the k largest logits (ties kept); 0 or absent: off. */
  topK?: number;
  /** Keep the fewest most likely tokens holding this much probability (ties kept); 1: off. */
  topP?: number;
  /** Keep tokens at least this fraction as likely as the most likely; 0: off. */
  minP?: number;
}

/** logits (rows, n), settings (rows,) packed by Sampler.settings -> ids (rows,) u32. */
export interface SampleArgs {
  logits: Binding;
  settings: Binding;
  ids: Binding;
  rows: number;
  n: number;
}

/** Bytes of one row's settings (struct Settings in sample.wgsl). */
export const SAMPLER_SETTINGS_BYTES = 32;

/**
 * shaders/sample.wgsl: greedy, temperature, top-k, top-p and min-p sampling on the GPU, each
 * sequence with its own settings and uniform draw; only the ids come back.
 */
export class Sampler {
  private constructor(
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
  ) {}

  static async load(gpu: GpuContext, options: KernelOptions = {}): Promise<Sampler> {
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'sample',
      activations: options.activations,
      subgroups: gpu.facts.features.subgroups,
      workgroupSize: SAMPLE_WORKGROUP,
    });
    return new Sampler(key, pipeline);
  }

  /** The settings array of sample.wgsl: one row per sequence, `u` its uniform draw in [0, 1). */
  static settings(rows: readonly { settings: SamplingSettings; u: number }[]): Uint8Array {
    const out = new Uint8Array(rows.length * SAMPLER_SETTINGS_BYTES);
    rows.forEach(({ settings: s, u }, i) => {
      if (!(u >= 0 && u < 1)) throw new RangeError(`sampling draw u must be in [0, 1), got ${u}`);
      const packed = packParams([
        { f32: s.temperature },
        { u32: s.topK ?? 0 },
        { f32: s.topP ?? 1 },
        { f32: s.minP ?? 0 },
        { f32: u },
      ]);
      out.set(packed.subarray(0, SAMPLER_SETTINGS_BYTES), i * SAMPLER_SETTINGS_BYTES);
    });
    return out;
  }

  encode(batch: ComputeBatch, { logits, settings, ids, rows, n }: SampleArgs): void {
    batch.dispatch(
      this.pipeline,
      new Uint32Array([rows, n, 0, 0]),
      [logits, settings, ids],
      [rows],
    );
  }
}
