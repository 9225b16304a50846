import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { quantFormats, rowBytes, type QuantName } from '../quant/index.js';
import { itemGrid } from './elementwise.js';
import { ELEMENTWISE_WORKGROUP } from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';
import { weightChunks, type WeightBinding } from './weight-binding.js';

/** table (vocab, dim) in the kernel's format, ids (tokens,) u32 -> out (tokens, dim). */
export interface EmbeddingArgs {
  table: WeightBinding;
  ids: Binding;
  out: Binding;
  tokens: number;
  vocab: number;
  dim: number;
}

/** shaders/embedding.wgsl: token embedding rows gathered from a table in any weight format. */
export class Embedding {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
    readonly format: QuantName,
    private readonly bindingLimit: number,
  ) {}

  static async load(
    gpu: GpuContext,
    format: QuantName,
    options: KernelOptions & { bindingLimit?: number } = {},
  ): Promise<Embedding> {
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'embedding',
      weights: format,
      activations: options.activations,
      workgroupSize: ELEMENTWISE_WORKGROUP,
    });
    const limit = gpu.facts.limits.maxStorageBufferBindingSize;
    const bindingLimit = Math.min(options.bindingLimit ?? limit, limit);
    return new Embedding(gpu, key, pipeline, format, bindingLimit);
  }

  encode(batch: ComputeBatch, { table, ids, out, tokens, vocab, dim }: EmbeddingArgs): void {
    const bytes = rowBytes(quantFormats[this.format], dim);
    const perRow = Math.ceil(dim / 32);
    const alignment = this.gpu.facts.limits.minStorageBufferOffsetAlignment;
    const slices = weightChunks(table, vocab, bytes, this.bindingLimit, alignment);
    slices.forEach(({ start, count, binding }, i) => {
      const last = i === slices.length - 1 ? 1 : 0;
      batch.dispatch(
        this.pipeline,
        new Uint32Array([tokens, dim, bytes, vocab, start, count, last, 0]),
        [binding, ids, out],
        itemGrid(this.gpu, tokens * perRow, ELEMENTWISE_WORKGROUP),
      );
    });
  }
}
