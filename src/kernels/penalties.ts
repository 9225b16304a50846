import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { packParams } from '../gpu/params.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { itemGrid } from './elementwise.js';
import { PENALTIES_WORKGROUP } from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';

/** Repetition, frequency and presence penalties, as llama.cpp's penalties sampler. */
export interface PenaltySettings {
  /** Divides positive logits and multiplies non-positive ones of seen tokens; 1: off. */
  repeat: number;
  /** Subtracted once per occurrence in the window; 0: off. */
  frequency: number;
  /** Subtracted once from every token in the window; 0: off. */
  presence: number;
}

/** Whether the settings change anything. */
export function penaltiesActive(s: PenaltySettings): boolean {
  return s.repeat !== 1 || s.frequency !== 0 || s.presence !== 0;
}

/** How often each token occurs in `window` (the last penalty_last_n tokens). */
export function countTokens(window: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const t of window) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

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
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'penalties',
      entryPoint: 'penalize',
      activations: options.activations,
      workgroupSize: PENALTIES_WORKGROUP,
    });
    return new Penalties(gpu, key, pipeline);
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
