import { GpuAllocationError } from '../errors.js';
import { formatBytes, type GpuLimits } from '../gpu/facts.js';
import type { ModelConfig } from './config.js';
import type { GgufFile } from './gguf/types.js';
import type { KvFormat } from '../kernels/attention.js';

// What a decoder will hold on the GPU, worked out from the GGUF header before any buffer is
// made, so a model or context that cannot fit fails at once with what to change, not after
// half the weights have streamed in.

/** Tokens per KV-cache block (the attention kernels' block table granularity). */
export const BLOCK_TOKENS = 16;

export interface MemoryPlan {
  /** Sequences the KV cache holds at once. */
  sequences: number;
  /** How the cache stores K and V. */
  kv: KvFormat;
  /** Weight buffers (norms and biases widened to f32). */
  weights: number;
  /** Blocks of BLOCK_TOKENS tokens in the pool every sequence draws from. */
  kvBlocks: number;
  /**
   * What set kvBlocks: 'context' (every sequence can fill its whole context), 'budget' (the
   * configured kvBudget), or 'adapter' (the largest buffer the adapter binds); under the
   * last two, sequences compete for blocks (KvCacheFullError, or eviction by policy).
   */
  kvLimitedBy: 'context' | 'budget' | 'adapter';
  /** Every layer's K and V cache. */
  kvCache: number;
  /** One layer's K (or V) cache buffer, which the attention kernels bind whole. */
  kvCachePerBuffer: number;
  /** Activations for a `maxBatch`-token forward pass (attention's split-K scratch aside). */
  activations: number;
  total: number;
}

export interface PlanOptions {
  contextSize: number;
  maxBatch: number;
  /** Tensors widened to f32 on load. */
  widened: (name: string) => boolean;
  sequences?: number;
  kv?: KvFormat;
  /** Bytes the whole KV cache (every layer's K and V) may take; absent: no budget. */
  kvBudget?: number;
  /** The adapter's limits: its largest binding caps the pool. */
  limits?: Pick<GpuLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>;
}

/** Bytes one row of K (or V) of one token takes in `kv` format. */
function kvRowBytes(c: ModelConfig, kv: KvFormat): number {
  if (kv === 'int8') return c.kvHeads * (c.headDim + 4);
  return c.kvHeads * c.headDim * (kv === 'f16' ? 2 : 4);
}

/** Bytes of one layer's K (or V) cache for `contextSize` tokens: whole blocks of rows. */
export function kvCacheBufferBytes(
  c: ModelConfig,
  contextSize: number,
  kv: KvFormat = 'f32',
): number {
  return Math.ceil(contextSize / BLOCK_TOKENS) * BLOCK_TOKENS * kvRowBytes(c, kv);
}

/** The largest buffer the adapter binds as storage. */
function bindingLimit(limits: Pick<GpuLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>) {
  return Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
}

export function memoryPlan(file: GgufFile, c: ModelConfig, options: PlanOptions): MemoryPlan {
  const { contextSize, maxBatch, widened, sequences = 1, kv = 'f32' } = options;
  const weights = file.tensors.reduce(
    (n, t) => n + (widened(t.name) ? t.elements * 4 : t.byteSize),
    0,
  );
  const blockBytes = kvCacheBufferBytes(c, BLOCK_TOKENS, kv);
  let kvBlocks = sequences * Math.ceil(contextSize / BLOCK_TOKENS);
  let kvLimitedBy: MemoryPlan['kvLimitedBy'] = 'context';
  if (options.kvBudget !== undefined) {
    const fits = Math.floor(options.kvBudget / (2 * c.layers * blockBytes));
    if (fits < kvBlocks) [kvBlocks, kvLimitedBy] = [fits, 'budget'];
  }
  if (options.limits) {
    const fits = Math.floor(bindingLimit(options.limits) / blockBytes);
    if (fits < kvBlocks) [kvBlocks, kvLimitedBy] = [fits, 'adapter'];
  }
  const kvCachePerBuffer = kvBlocks * blockBytes;
  const kvCache = 2 * c.layers * kvCachePerBuffer;
  const q = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  // x, x2, h; q, k, v, attn, proj; gate, up, act; a rounded input copy; logits.
  const perToken = 3 * c.embedding + 3 * q + 2 * kvDim + 3 * c.feedForward;
  const activations =
    4 *
    (maxBatch * (perToken + Math.max(c.embedding, c.feedForward, q)) +
      sequences * (c.vocabSize + c.embedding));
  return {
    sequences,
    kv,
    weights,
    kvBlocks,
    kvLimitedBy,
    kvCache,
    kvCachePerBuffer,
    activations,
    total: weights + kvCache + activations,
  };
}

/**
 * Throws a GpuAllocationError naming what to change when a buffer of the plan is over the
 * adapter's limits. (WebGPU tells no device's total memory: that shows as an allocation
 * failure, which `explain` turns into a message with the plan's totals.)
 */
export function checkPlan(
  plan: MemoryPlan,
  c: ModelConfig,
  contextSize: number,
  limits: GpuLimits,
  kvBudget?: number,
): void {
  const perBuffer = bindingLimit(limits);
  const blockBytes = kvCacheBufferBytes(c, BLOCK_TOKENS, plan.kv);
  const oneSequence = kvCacheBufferBytes(c, contextSize, plan.kv);
  if (oneSequence > perBuffer) {
    const fits = Math.floor(perBuffer / blockBytes) * BLOCK_TOKENS;
    throw new GpuAllocationError(
      `a ${contextSize}-token context needs ${formatBytes(oneSequence)} of ${plan.kv} KV cache ` +
        `per layer, but this adapter binds at most ${formatBytes(perBuffer)}: ` +
        `pass a contextSize of at most ${fits}` +
        (plan.kv === 'f32' ? `, or kv 'f16' or 'int8'` : ''),
    );
  }
  // The pool must hold at least one block past a window's sinks for every sequence to start.
  if (plan.kvBlocks < Math.max(2, plan.sequences)) {
    const least = Math.max(2, plan.sequences) * 2 * c.layers * blockBytes;
    throw new GpuAllocationError(
      `a KV budget of ${formatBytes(kvBudget ?? 0)} holds ${plan.kvBlocks} blocks of ` +
        `${BLOCK_TOKENS} tokens, too few for ${plan.sequences} sequence(s): ` +
        `give a kvBudget of at least ${formatBytes(least)}`,
    );
  }
}

/** `error` with the plan's totals appended, when the device ran out of room while loading. */
export function explain(error: unknown, plan: MemoryPlan, contextSize: number): unknown {
  if (!(error instanceof GpuAllocationError)) return error;
  return new GpuAllocationError(
    `${error.message} (this model needs ${formatBytes(plan.total)} of GPU buffers in all: ` +
      `weights ${formatBytes(plan.weights)}, KV cache ${formatBytes(plan.kvCache)} for ` +
      `${contextSize} tokens, activations ${formatBytes(plan.activations)}; a smaller ` +
      "contextSize or kvBudget, kv 'int8', or quantization needs less)",
    { cause: error },
  );
}
