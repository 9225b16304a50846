import type { AttentionConfig, AttentionQuery, KvLayout } from '../kv-layout.js';

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
        const score = scale * dot;
        return c.softcap ? c.softcap * Math.tanh(score / c.softcap) : score;
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

/** Round half to even, as WGSL's round() does. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * An f32-layout cache (blocks, kvHeads, blockTokens, headDim) as int8 pages: per (block, kv
 * head), blockTokens rows of headDim int8 (4 per u32, little-endian), then blockTokens f32
 * scales (max |x| / 127 of the row), as include/kv_cache.wgsl lays them out.
 */
export function packInt8Cache(c: KvLayout, floats: Float32Array): Uint32Array {
  const rows = floats.length / c.headDim;
  const rowWords = c.headDim / 4;
  const out = new Uint32Array(rows * (rowWords + 1));
  const scales = new Float32Array(1);
  for (let r = 0; r < rows; r++) {
    const page = Math.floor(r / c.blockTokens);
    const slot = r % c.blockTokens;
    const pageBase = page * c.blockTokens * (rowWords + 1);
    const row = floats.subarray(r * c.headDim, (r + 1) * c.headDim);
    const amax = row.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    scales[0] = amax / 127;
    const scale = scales[0];
    const inv = scale > 0 ? Math.fround(1 / scale) : 0;
    for (let w = 0; w < rowWords; w++) {
      let word = 0;
      for (let b = 0; b < 4; b++) {
        const q = roundEven(Math.min(127, Math.max(-127, Math.fround(row[4 * w + b] * inv))));
        word |= (q & 0xff) << (8 * b);
      }
      out[pageBase + slot * rowWords + w] = word >>> 0;
    }
    out[pageBase + c.blockTokens * rowWords + slot] = new Uint32Array(scales.buffer)[0];
  }
  return out;
}

/** The f32-layout values an int8 cache holds (inverse of packInt8Cache, up to rounding). */
export function unpackInt8Cache(c: KvLayout, words: Uint32Array): Float32Array {
  const rowWords = c.headDim / 4;
  const rows = words.length / (rowWords + 1);
  const out = new Float32Array(rows * c.headDim);
  const f = new Float32Array(words.buffer, words.byteOffset, words.length);
  for (let r = 0; r < rows; r++) {
    const page = Math.floor(r / c.blockTokens);
    const slot = r % c.blockTokens;
    const pageBase = page * c.blockTokens * (rowWords + 1);
    const scale = f[pageBase + c.blockTokens * rowWords + slot];
    for (let d = 0; d < c.headDim; d++) {
      const word = words[pageBase + slot * rowWords + (d >> 2)];
      out[r * c.headDim + d] = ((word << (24 - 8 * (d & 3))) >> 24) * scale;
    }
  }
  return out;
}

/**
 * Every row of `blocks` in an f32-layout cache (blocks, kvHeads, blockTokens, headDim) rotated
 * in place by `angles` ((ropeDims / 2, 2): cos, sin per pair), as kv_shift.wgsl does, in f64.
 */
export function kvShiftReference(
  c: KvLayout & { ropeDims: number; neox: boolean },
  cache: Float32Array,
  blocks: readonly number[],
  angles: Float32Array,
): Float32Array {
  const out = cache.slice();
  const half = c.ropeDims / 2;
  for (const block of blocks) {
    for (let row = 0; row < c.kvHeads * c.blockTokens; row++) {
      const base = (block * c.kvHeads * c.blockTokens + row) * c.headDim;
      for (let i = 0; i < half; i++) {
        const [a, b] = c.neox ? [base + i, base + i + half] : [base + 2 * i, base + 2 * i + 1];
        const [cos, sin] = [angles[2 * i], angles[2 * i + 1]];
        const [x0, x1] = [cache[a], cache[b]];
        out[a] = x0 * cos - x1 * sin;
        out[b] = x0 * sin + x1 * cos;
      }
    }
  }
  return out;
}
