import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { itemGrid } from './elementwise.js';
import { ELEMENTWISE_WORKGROUP } from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';

/** The logit a forbidden token gets (token_mask.wgsl). */
export const FORBIDDEN_LOGIT = -65504;

/** logits (rows, n) in place; mask (rows, maskWords(n)) u32 bitsets, 1 = allowed. */
export interface TokenMaskArgs {
  logits: Binding;
  mask: Binding;
  rows: number;
  n: number;
}

/** u32 words of one row's mask over a vocabulary of `n`. */
export const maskWords = (n: number) => Math.ceil(n / 32);

/** shaders/token_mask.wgsl: grammar-constrained sampling's mask, applied before the sampler. */
export class TokenMask {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
  ) {}

  static async load(gpu: GpuContext, options: KernelOptions = {}): Promise<TokenMask> {
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'token_mask',
      activations: options.activations,
      workgroupSize: ELEMENTWISE_WORKGROUP,
    });
    return new TokenMask(gpu, key, pipeline);
  }

  encode(batch: ComputeBatch, { logits, mask, rows, n }: TokenMaskArgs): void {
    batch.dispatch(
      this.pipeline,
      new Uint32Array([rows, n, maskWords(n), 0]),
      [mask, logits],
      itemGrid(this.gpu, rows * n, ELEMENTWISE_WORKGROUP),
    );
  }
}

/** The CPU reference: forbidden logits set to FORBIDDEN_LOGIT. */
export function tokenMaskReference(logits: Float32Array, mask: Uint32Array, n: number) {
  const words = maskWords(n);
  return logits.map((x, i) => {
    const row = Math.floor(i / n);
    const t = i % n;
    return (mask[row * words + (t >> 5)] >>> (t & 31)) & 1 ? x : FORBIDDEN_LOGIT;
  });
}
