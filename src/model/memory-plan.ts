import { GpuAllocationError } from '../errors.js';
import { formatBytes, type GpuLimits } from '../gpu/facts.js';
import type { ModelConfig } from './config.js';
import type { GgufFile } from './gguf/types.js';

// What a decoder will hold on the GPU, worked out from the GGUF header before any buffer is
// made, so a model or context that cannot fit fails at once with what to change, not after
// half the weights have streamed in.

/** Tokens per KV-cache block (the attention kernels' block table granularity). */
export const BLOCK_TOKENS = 16;

export interface MemoryPlan {
  /** Sequences the KV cache holds, each `contextSize` tokens. */
  sequences: number;
  /** Weight buffers (norms and biases widened to f32). */
  weights: number;
  /** Every layer's K and V cache, f32, for `contextSize` tokens of each sequence. */
  kvCache: number;
  /** One layer's K (or V) cache buffer, which the attention kernels bind whole. */
  kvCachePerBuffer: number;
  /** Activations for a `maxBatch`-token forward pass (attention's split-K scratch aside). */
  activations: number;
  total: number;
}

/** Bytes of one layer's K (or V) cache for `contextSize` tokens: whole blocks of f32 rows. */
export function kvCacheBufferBytes(c: ModelConfig, contextSize: number): number {
  return Math.ceil(contextSize / BLOCK_TOKENS) * BLOCK_TOKENS * c.kvHeads * c.headDim * 4;
}

export function memoryPlan(
  file: GgufFile,
  c: ModelConfig,
  contextSize: number,
  maxBatch: number,
  widened: (name: string) => boolean,
  sequences = 1,
): MemoryPlan {
  const weights = file.tensors.reduce(
    (n, t) => n + (widened(t.name) ? t.elements * 4 : t.byteSize),
    0,
  );
  const kvCachePerBuffer = sequences * kvCacheBufferBytes(c, contextSize);
  const kvCache = 2 * c.layers * kvCachePerBuffer;
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  // x, x2, h; q, k, v, attn, proj; gate, up, act; a rounded input copy; logits.
  const perToken = 3 * c.embedding + 3 * q + 2 * kv + 3 * c.feedForward;
  const activations =
    4 *
    (maxBatch * (perToken + Math.max(c.embedding, c.feedForward, q)) +
      sequences * (c.vocabSize + c.embedding));
  return {
    sequences,
    weights,
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
): void {
  const perBuffer = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  if (plan.kvCachePerBuffer > perBuffer) {
    const { sequences } = plan;
    const perSequence = Math.floor(perBuffer / sequences);
    const fits = Math.floor(perSequence / kvCacheBufferBytes(c, BLOCK_TOKENS)) * BLOCK_TOKENS;
    const each = sequences > 1 ? ` for each of ${sequences} sequences` : '';
    throw new GpuAllocationError(
      `a ${contextSize}-token context${each} needs ${formatBytes(plan.kvCachePerBuffer)} of KV cache ` +
        `per layer, but this adapter binds at most ${formatBytes(perBuffer)}: ` +
        `pass a contextSize of at most ${fits}`,
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
      'contextSize or quantization needs less)',
    { cause: error },
  );
}
