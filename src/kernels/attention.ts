import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { packParams } from '../gpu/params.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { itemGrid } from './elementwise.js';
import {
  kvCacheBytes,
  type AttentionConfig,
  type AttentionQuery,
  type KvFormat,
} from './kv-layout.js';
import {
  ATTENTION_WORKGROUP,
  attentionKeysPerSplit,
  attentionMostSplits,
  attentionWorkgroup,
  ELEMENTWISE_WORKGROUP,
} from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';

export type { AttentionConfig, AttentionQuery, KvFormat };
export { kvCacheBytes };

/**
 * What a kernel reading or writing the cache compiles for its format (c.kv, or the
 * activations' type): the defines of include/kv_cache.wgsl and a name part.
 */
export function kvVariant(
  c: { kv?: KvFormat; headDim: number },
  options: KernelOptions,
): {
  format: KvFormat;
  shape: string;
  defines: { KV_INT8: boolean; KV_F16: boolean; KV_VEC4: boolean };
} {
  const format = c.kv ?? options.activations ?? 'f32';
  if (format === 'int8' && c.headDim % 4 !== 0) {
    throw new RangeError(
      `an int8 KV cache packs 4 values a word: head dim ${c.headDim} is not a multiple of 4`,
    );
  }
  // Float rows of a head dim that is a multiple of 4 are read as vec4 (attention's keys).
  const vec4 = format !== 'int8' && c.headDim % 4 === 0;
  return {
    format,
    shape: `kv${format === 'int8' ? 'i8' : format}${vec4 ? 'v4' : ''}`,
    defines: { KV_INT8: format === 'int8', KV_F16: format === 'f16', KV_VEC4: vec4 },
  };
}

/** A dispatch's split-K: `splits` ranges of `keysPerSplit` keys per query and head. */
export interface AttentionSplit {
  splits: number;
  keysPerSplit: number;
}

/** Bytes of the partials one encode() needs, for the caller to allocate (or take from a pool). */
export interface AttentionScratch {
  /** (queries, heads, splits, headDim) f32 */
  acc: Binding;
  /** (queries, heads, splits, 2) f32 */
  ml: Binding;
}

export interface AttentionArgs {
  /** (queries, heads, headDim) f32 */
  q: Binding;
  kCache: Binding;
  vCache: Binding;
  /** Block tables of every sequence involved, back to back, u32. */
  table: Binding;
  /** AttentionQuery per query row, packed by Attention.queryInfo. */
  queries: Binding;
  /** (queries, heads, headDim) f32 */
  out: Binding;
  scratch: AttentionScratch;
  queryCount: number;
  /** The largest qIndex + 1 among the queries: how many keys the splits must cover. */
  maxKeys: number;
}

/**
 * shaders/attention.wgsl: causal, grouped-query attention over the paged KV cache, with an
 * optional sliding window and attention sinks. Split-K (flash decoding): each query's keys are
 * cut into ranges handled by separate workgroups, then merged by a reduce pass (none when one
 * range holds them all: a decode step's one dispatch at short contexts).
 */
export class Attention {
  private constructor(
    readonly config: Required<AttentionConfig>,
    /** Keys per split when the caller fixed them, else chosen per dispatch (`split`). */
    readonly fixedKeysPerSplit: number | undefined,
    /** Keys of one online-softmax step: every split's keys are a multiple. */
    readonly workgroup: number,
    private readonly facts: { software: boolean },
    readonly splitKey: PipelineKey,
    private readonly splitPipeline: GPUComputePipeline,
    private readonly reducePipeline: GPUComputePipeline,
  ) {}

  /**
   * `keysPerSplit` fixes the keys each split covers (a multiple of the kernel's workgroup: tests
   * use it to reach the reduce pass at short contexts); by default each dispatch chooses them
   * for its shape (tuning.ts attentionKeysPerSplit).
   */
  static async load(
    gpu: GpuContext,
    config: AttentionConfig,
    keysPerSplit?: number,
    options: KernelOptions = {},
  ): Promise<Attention> {
    const { heads, kvHeads, headDim } = config;
    if (heads % kvHeads !== 0)
      throw new RangeError(`${heads} heads do not group over ${kvHeads} kv heads`);
    if (headDim > Math.min(2 * ATTENTION_WORKGROUP, 512)) {
      throw new RangeError(
        `attention supports head dims up to ${2 * ATTENTION_WORKGROUP}, got ${headDim}`,
      );
    }
    const workgroup = attentionWorkgroup(gpu.facts, headDim);
    if (keysPerSplit !== undefined && keysPerSplit % workgroup !== 0) {
      throw new RangeError(`keys per split must be a multiple of ${workgroup}`);
    }
    const kv = kvVariant(config, options);
    const full: Required<AttentionConfig> = {
      window: 0,
      sinks: 0,
      scale: 1 / Math.sqrt(headDim),
      softcap: 0,
      ...config,
      kv: kv.format,
    };
    const variant = (pass: 'split' | 'reduce') =>
      loadVariant(gpu, {
        family: 'attention',
        entryPoint: `attend_${pass}`,
        activations: options.activations,
        shape: `${pass}_${kv.shape}`,
        subgroups: gpu.facts.features.subgroups,
        workgroupSize: workgroup,
        defines: kv.defines,
      });
    const [split, reduce] = await Promise.all([variant('split'), variant('reduce')]);
    return new Attention(
      full,
      keysPerSplit,
      workgroup,
      gpu.facts,
      split.key,
      split.pipeline,
      reduce.pipeline,
    );
  }

  /** The QueryInfo array of attention.wgsl. */
  static queryInfo(queries: readonly AttentionQuery[]): Uint32Array {
    return Uint32Array.from(queries.flatMap((q) => [q.tableOffset, q.qIndex]));
  }

  /** How `queryCount` queries over up to `maxKeys` keys are split: how many, of how many keys. */
  split(maxKeys: number, queryCount: number): AttentionSplit {
    const keysPerSplit =
      this.fixedKeysPerSplit ??
      attentionKeysPerSplit(this.facts, {
        maxKeys,
        heads: this.config.heads,
        queries: queryCount,
        workgroup: this.workgroup,
      });
    return { splits: Math.max(1, Math.ceil(maxKeys / keysPerSplit)), keysPerSplit };
  }

  /**
   * Sizes in bytes of scratch.acc and scratch.ml for up to `queryCount` queries over up to
   * `maxKeys` keys: the most partials any such dispatch writes (splits chosen per shape shrink
   * as queries grow, so every query count up to `queryCount` is asked).
   */
  scratchBytes(queryCount: number, maxKeys: number): { acc: number; ml: number } {
    let parts = 0;
    for (let queries = 1; queries <= queryCount; queries++) {
      const shape = { maxKeys, heads: this.config.heads, queries, workgroup: this.workgroup };
      const splits =
        this.fixedKeysPerSplit === undefined
          ? attentionMostSplits(this.facts, shape)
          : Math.max(1, Math.ceil(maxKeys / this.fixedKeysPerSplit));
      parts = Math.max(parts, queries * this.config.heads * splits);
    }
    return { acc: parts * this.config.headDim * 4, ml: parts * 2 * 4 };
  }

  /** Field for field with `struct Params` in attention.wgsl. */
  params({ splits, keysPerSplit }: AttentionSplit): Uint8Array {
    const c = this.config;
    return packParams([
      { u32: c.heads },
      { u32: c.kvHeads },
      { u32: c.headDim },
      { u32: c.blockTokens },
      { u32: keysPerSplit },
      { u32: splits },
      { u32: c.window },
      { u32: c.sinks },
      { f32: c.scale },
      { f32: c.softcap },
    ]);
  }

  encode(batch: ComputeBatch, a: AttentionArgs): void {
    const split = this.split(a.maxKeys, a.queryCount);
    const { splits } = split;
    const params = this.params(split);
    batch.dispatch(
      this.splitPipeline,
      params,
      [a.q, a.kCache, a.vCache, a.table, a.queries, a.scratch.acc, a.scratch.ml, a.out],
      [splits, this.config.heads, a.queryCount],
    );
    // One split wrote the output itself.
    if (splits === 1) return;
    batch.dispatch(
      this.reducePipeline,
      params,
      [a.scratch.acc, a.scratch.ml, a.out],
      [1, this.config.heads, a.queryCount],
    );
  }
}

/**
 * A step's new K and V rows (tokens, kvHeads, headDim) into their sequences' cache slots: token
 * t to slot queries[t].qIndex of the block table at queries[t].tableOffset (Attention.queryInfo).
 */
export interface KvWriteArgs {
  kNew: Binding;
  vNew: Binding;
  table: Binding;
  queries: Binding;
  kCache: Binding;
  vCache: Binding;
  tokens: number;
}

/**
 * shaders/kv_write.wgsl: new K/V into the paged cache (f32, f16 or int8) through block tables,
 * every sequence of a step in one dispatch.
 */
export class KvWrite {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
    readonly config: AttentionConfig,
  ) {}

  static async load(
    gpu: GpuContext,
    config: AttentionConfig,
    options: KernelOptions = {},
  ): Promise<KvWrite> {
    const kv = kvVariant(config, options);
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'kv_write',
      activations: options.activations,
      shape: kv.shape,
      workgroupSize: ELEMENTWISE_WORKGROUP,
      defines: kv.defines,
    });
    return new KvWrite(gpu, key, pipeline, { ...config, kv: kv.format });
  }

  encode(batch: ComputeBatch, a: KvWriteArgs): void {
    const { kvHeads, headDim, blockTokens } = this.config;
    const params = new Uint32Array([a.tokens, kvHeads, headDim, blockTokens]);
    batch.dispatch(
      this.pipeline,
      params,
      [a.kNew, a.vNew, a.table, a.queries, a.kCache, a.vCache],
      // int8: one invocation per (token, kv head) row, which it scales and packs.
      itemGrid(
        this.gpu,
        a.tokens * kvHeads * (this.config.kv === 'int8' ? 1 : headDim),
        ELEMENTWISE_WORKGROUP,
      ),
    );
  }
}

/** The cache a KvShift rotates, and its rotary pairs. */
export interface KvShiftConfig extends Pick<
  AttentionConfig,
  'kvHeads' | 'headDim' | 'blockTokens' | 'kv'
> {
  /** Rotated elements per row (even, ≤ headDim). */
  ropeDims: number;
  /** NeoX pairs (x[i], x[i + ropeDims / 2]) instead of adjacent ones. */
  neox: boolean;
}

export interface KvShiftArgs {
  /** One layer's K cache. */
  cache: Binding;
  /** The physical blocks to rotate, u32. */
  blocks: Binding;
  /** (ropeDims / 2, 2) f32: the cos and sin every pair turns by. */
  angles: Binding;
  count: number;
}

/**
 * shaders/kv_shift.wgsl: a sliding window's context shift, every cached K row of the listed
 * blocks rotated by one angle set in place; int8 rows are unpacked, rotated and packed again.
 */
export class KvShift {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
    readonly config: KvShiftConfig,
  ) {}

  static async load(
    gpu: GpuContext,
    config: KvShiftConfig,
    options: KernelOptions = {},
  ): Promise<KvShift> {
    if (config.ropeDims % 2 !== 0 || config.ropeDims > config.headDim || config.headDim > 512) {
      throw new RangeError(
        `a KV shift rotates an even number of dims ≤ head dim ≤ 512, got ${config.ropeDims} of ${config.headDim}`,
      );
    }
    const kv = kvVariant(config, options);
    const { key, pipeline } = await loadVariant(gpu, {
      family: 'kv_shift',
      activations: options.activations,
      shape: kv.shape,
      workgroupSize: ELEMENTWISE_WORKGROUP,
      defines: kv.defines,
    });
    return new KvShift(gpu, key, pipeline, { ...config, kv: kv.format });
  }

  encode(batch: ComputeBatch, a: KvShiftArgs): void {
    const c = this.config;
    const rows = a.count * c.kvHeads * c.blockTokens;
    batch.dispatch(
      this.pipeline,
      new Uint32Array([
        a.count,
        c.kvHeads,
        c.headDim,
        c.blockTokens,
        c.ropeDims,
        c.neox ? 1 : 0,
        0,
        0,
      ]),
      [a.cache, a.blocks, a.angles],
      // int8: one invocation per row, which it unpacks and packs; floats: one per pair.
      itemGrid(this.gpu, rows * (c.kv === 'int8' ? 1 : c.ropeDims / 2), ELEMENTWISE_WORKGROUP),
    );
  }
}
