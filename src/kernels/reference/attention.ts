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
}

/** One query row: which sequence (by the start of its block table) and its index in the cache. */
export interface AttentionQuery {
  tableOffset: number;
  qIndex: number;
}

/** Offset of (token j, kv head h, dim 0) of a sequence in a cache laid out as attention.wgsl says. */
export function cacheOffset(
  c: AttentionConfig,
  table: Uint32Array,
  tableOffset: number,
  j: number,
  kvHead: number,
): number {
  const block = table[tableOffset + Math.floor(j / c.blockTokens)];
  return ((block * c.kvHeads + kvHead) * c.blockTokens + (j % c.blockTokens)) * c.headDim;
}

/**
 * q (queries, heads, headDim), caches (blocks, kvHeads, blockTokens, headDim) -> out (queries,
 * heads, headDim): softmax(scale · q·k) · v over each query's visible keys, in f64.
 */
export function attentionReference(
  c: AttentionConfig,
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  table: Uint32Array,
  queries: readonly AttentionQuery[],
): Float32Array {
  const { heads, kvHeads, headDim, window = 0, sinks = 0 } = c;
  const scale = c.scale ?? 1 / Math.sqrt(headDim);
  const out = new Float32Array(queries.length * heads * headDim);
  queries.forEach(({ tableOffset, qIndex }, i) => {
    for (let h = 0; h < heads; h++) {
      const kvHead = Math.floor(h / (heads / kvHeads));
      const qBase = (i * heads + h) * headDim;
      const keys: number[] = [];
      for (let j = 0; j <= qIndex; j++) {
        if (window === 0 || qIndex - j < window || j < sinks) keys.push(j);
      }
      const scores = keys.map((j) => {
        const k = cacheOffset(c, table, tableOffset, j, kvHead);
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[qBase + d] * kCache[k + d];
        return scale * dot;
      });
      const top = Math.max(...scores);
      const weights = scores.map((s) => Math.exp(s - top));
      const sum = weights.reduce((a, b) => a + b, 0);
      for (let d = 0; d < headDim; d++) {
        let acc = 0;
        keys.forEach(
          (j, t) => (acc += weights[t] * vCache[cacheOffset(c, table, tableOffset, j, kvHead) + d]),
        );
        out[qBase + d] = acc / sum;
      }
    }
  });
  return out;
}

/** k_new, v_new (tokens, kvHeads, headDim) written into the cache copies at start .. start+tokens-1. */
export function kvWriteReference(
  c: AttentionConfig,
  kCache: Float32Array,
  vCache: Float32Array,
  table: Uint32Array,
  tableOffset: number,
  start: number,
  kNew: Float32Array,
  vNew: Float32Array,
): { k: Float32Array; v: Float32Array } {
  const k = kCache.slice();
  const v = vCache.slice();
  const tokens = kNew.length / (c.kvHeads * c.headDim);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < c.kvHeads; h++) {
      const at = cacheOffset(c, table, tableOffset, start + t, h);
      const src = (t * c.kvHeads + h) * c.headDim;
      k.set(kNew.subarray(src, src + c.headDim), at);
      v.set(vNew.subarray(src, src + c.headDim), at);
    }
  }
  return { k, v };
}
