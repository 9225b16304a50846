import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { packParams } from '../gpu/params.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import type { PenaltySettings } from './reference/penalties.js';
import { itemGrid } from './elementwise.js';
import { PENALTIES_WORKGROUP } from './tuning.js';
import { pipelineKey, type KernelOptions } from './variant.js';

export type { PenaltySettings };

/** Bytes of one entry (struct Entry in penalties.wgsl): row, token, times seen. */
export const PENALTY_ENTRY_BYTES = 12;

/** entries packed by Penalties.entries, applied in place to logits (rows, n). */
export interface PenaltiesArgs {
  logits: Binding;
  entries: Binding;
  /** Entries to apply (≤ what `entries` holds). */
  count: number;
  n: number;
  settings: PenaltySettings;
}

/**
 * shaders/penalties.wgsl: llama.cpp's repetition, frequency and presence penalties applied to
 * the logits on the GPU, so they never come back to the CPU; the host sends only the counts.
 */
export class Penalties {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
  ) {}

  static async load(gpu: GpuContext, options: KernelOptions = {}): Promise<Penalties> {
    const key = pipelineKey(gpu.facts, {
      family: 'penalties',
      entryPoint: 'penalize',
      activations: options.activations,
      workgroupSize: PENALTIES_WORKGROUP,
    });
    return new Penalties(gpu, key, await gpu.pipelines.get(key));
  }

  /** The entries array of penalties.wgsl: per row, each distinct token and its count. */
  static entries(rows: readonly ReadonlyMap<number, number>[]): Uint32Array {
    const out: number[] = [];
    rows.forEach((counts, row) => {
      for (const [token, seen] of counts) out.push(row, token, seen);
    });
    return Uint32Array.from(out);
  }

  encode(batch: ComputeBatch, { logits, entries, count, n, settings: s }: PenaltiesArgs): void {
    if (count === 0) return;
    if (!(s.repeat > 0)) throw new RangeError(`repeat penalty must be > 0, got ${s.repeat}`);
    const params = packParams([
      { u32: count },
      { u32: n },
      { f32: s.repeat },
      { f32: s.frequency },
      { f32: s.presence },
    ]);
    batch.dispatch(
      this.pipeline,
      params,
      [entries, logits],
      itemGrid(this.gpu, count, PENALTIES_WORKGROUP),
    );
  }
}
