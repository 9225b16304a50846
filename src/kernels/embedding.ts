import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { quantFormats, rowBytes, type QuantName } from '../model/quant/index.js';
import { itemGrid } from './elementwise.js';
import { ELEMENTWISE_WORKGROUP } from './tuning.js';
import { pipelineKey, type KernelOptions } from './variant.js';

/** table (vocab, dim) in the kernel's format, ids (tokens,) u32 -> out (tokens, dim) f32. */
export interface EmbeddingArgs {
  table: Binding;
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
  ) {}

  static async load(
    gpu: GpuContext,
    format: QuantName,
    options: KernelOptions = {},
  ): Promise<Embedding> {
    const key = pipelineKey(gpu.facts, {
      family: 'embedding',
      weights: format,
      activations: options.activations,
      workgroupSize: ELEMENTWISE_WORKGROUP,
    });
    return new Embedding(gpu, key, await gpu.pipelines.get(key), format);
  }

  encode(batch: ComputeBatch, { table, ids, out, tokens, vocab, dim }: EmbeddingArgs): void {
    const bytes = rowBytes(quantFormats[this.format], dim);
    const perRow = Math.ceil(dim / 32);
    batch.dispatch(
      this.pipeline,
      new Uint32Array([tokens, dim, bytes, vocab]),
      [table, ids, out],
      itemGrid(this.gpu, tokens * perRow, ELEMENTWISE_WORKGROUP),
    );
  }
}
