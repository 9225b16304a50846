// The paged KV cache's shape as the attention kernels see it: its formats, a layer's config,
// a query row, and the bytes a layer's cache takes.

/**
 * How the KV cache stores K and V: f32, f16 (half the bytes; needs shader-f16), or int8 rows
 * with one f32 scale each (a little over a quarter; headDim a multiple of 4).
 */
export type KvFormat = 'f32' | 'f16' | 'int8';

/** The shape of one layer's attention and its paged cache. */
export interface AttentionConfig {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Tokens per cache block. */
  blockTokens: number;
  /** 0 or absent: every earlier token is visible. */
  window?: number;
  /** Tokens at the start that stay visible whatever the window (attention sinks). */
  sinks?: number;
  /** Score scale; 1 / sqrt(headDim) when absent. */
  scale?: number;
  /** 0 or absent: none; else scores become softcap * tanh(score / softcap) (Gemma 2). */
  softcap?: number;
  /** How the cache stores K and V; absent: as the activations are stored. */
  kv?: KvFormat;
}

/** How a cache's rows are laid out: what packing and shifting need of its config. */
export type KvLayout = Pick<AttentionConfig, 'kvHeads' | 'headDim' | 'blockTokens'>;

/** One query row: which sequence (by the start of its block table) and its index in the cache. */
export interface AttentionQuery {
  tableOffset: number;
  qIndex: number;
}

/** Bytes of one layer's K (or V) cache of `blocks` blocks (`activationBytes`: absent c.kv). */
export function kvCacheBytes(
  c: AttentionConfig,
  blocks: number,
  activationBytes: 2 | 4 = 4,
): number {
  const rows = blocks * c.kvHeads * c.blockTokens;
  if (c.kv === 'int8') return rows * (c.headDim + 4);
  const bytes = c.kv === 'f16' ? 2 : c.kv === 'f32' ? 4 : activationBytes;
  return rows * c.headDim * bytes;
}
