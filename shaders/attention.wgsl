// Attention over a paged KV cache, flash-decoding style, for decode and prefill alike.
//
// Every query row (one token of one sequence) names its sequence's block table and its own
// index in that sequence's cache. Its keys are split into ranges of `keys_per_split`; pass
// `split` handles one (split, head, query) per workgroup, WG keys at a time with an online
// softmax, and leaves a partial (max, sum, weighted V); pass `reduce` merges the splits. One long
// sequence thus still fills the GPU, and a prompt's queries each run their own key loop.
// Entry points: attend_split, then attend_reduce; with one split (every query's keys fit in
// keys_per_split) attend_split writes the output itself and there is no reduce pass.
//
// Cache layout (K and V alike): include/kv_cache.wgsl, f32/f16 values or KV_INT8 rows with scales.
//
// q (queries, heads, head_dim) act, queries: QueryInfo (queries,) -> out (queries, heads, head_dim) act
// The partials are f32.
// Query i sees key j when j ≤ q_index and (window == 0 or q_index - j < window or j < sinks).
// Grouped-query attention: head h reads kv head h / (heads / kv_heads).
#include "include/enables.wgsl"
#include "include/reduce.wgsl"
#include "include/kv_cache.wgsl"

struct Params {
  heads: u32,
  kv_heads: u32,
  head_dim: u32, // ≤ 2 * WG (and ≤ 512)
  block_tokens: u32, // BT
  keys_per_split: u32, // a multiple of WG
  splits: u32, // per query
  window: u32, // 0: no sliding window
  sinks: u32, // tokens at the start that stay visible whatever the window
  scale: f32, // usually 1 / sqrt(head_dim)
  softcap: f32, // 0, or Gemma 2's: scores become softcap * tanh(score / softcap)
  _pad1: u32,
  _pad2: u32,
}

struct QueryInfo {
  table_offset: u32, // where this query's sequence starts in `table`
  q_index: u32, // this token's index in its sequence's cache
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<act>;
#if KV_INT8
@group(0) @binding(2) var<storage, read> k_cache: array<u32>;
@group(0) @binding(3) var<storage, read> v_cache: array<u32>;
#else
#if KV_VEC4
// Head dims a multiple of 4: each invocation reads its key's row four values a load.
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<kv>>;
#else
@group(0) @binding(2) var<storage, read> k_cache: array<kv>;
#endif
@group(0) @binding(3) var<storage, read> v_cache: array<kv>;
#endif
@group(0) @binding(4) var<storage, read> table: array<u32>;
@group(0) @binding(5) var<storage, read> queries: array<QueryInfo>;
// Partials: (queries, heads, splits) x head_dim weighted values, and x 2 (max, sum).
@group(0) @binding(6) var<storage, read_write> part_acc: array<f32>;
@group(0) @binding(7) var<storage, read_write> part_ml: array<f32>;
// The output, written here when there is one split.
@group(0) @binding(8) var<storage, read_write> single_out: array<act>;

// The score of a key nobody may see, and the max of a split that saw none. Finite on purpose:
// WGSL constants cannot be infinite, and every use below is guarded by a comparison with it.
const MASKED: f32 = -3.0e38;

var<workgroup> q_shared: array<f32, 512>;
var<workgroup> weights: array<f32, WG>;
var<workgroup> query_index: u32;
var<workgroup> query_table: u32;
var<workgroup> split_start: u32;

// Element d of a cached V row.
#if KV_INT8
fn v_at(row: KvRow, d: u32) -> f32 {
  return int8_of(v_cache[row.base + d / 4u], d) * bitcast<f32>(v_cache[row.scale]);
}
#else
fn v_at(row: KvRow, d: u32) -> f32 {
  return f32(v_cache[row.base + d]);
}
#endif

// q_shared[d .. d + 3]
fn q4(d: u32) -> vec4<f32> {
  return vec4<f32>(q_shared[d], q_shared[d + 1u], q_shared[d + 2u], q_shared[d + 3u]);
}

// The dot product of the query (q_shared) with a cached K row: an int8 row a word (four values)
// at a time, times its scale once; a float row four values a load where the head dim allows.
fn q_dot_k(row: KvRow) -> f32 {
  var s = 0.0;
#if KV_INT8
  for (var w = 0u; w < params.head_dim / 4u; w++) {
    let word = k_cache[row.base + w];
    let k = vec4<f32>(int8_of(word, 0u), int8_of(word, 1u), int8_of(word, 2u), int8_of(word, 3u));
    s += dot(q4(4u * w), k);
  }
  return s * bitcast<f32>(k_cache[row.scale]);
#else
#if KV_VEC4
  let base = row.base / 4u;
  for (var w = 0u; w < params.head_dim / 4u; w++) {
    s += dot(q4(4u * w), vec4<f32>(k_cache[base + w]));
  }
#else
  for (var d = 0u; d < params.head_dim; d++) {
    s += q_shared[d] * f32(k_cache[row.base + d]);
  }
#endif
  return s;
#endif
}

fn visible(j: u32, q_index: u32) -> bool {
  return j <= q_index &&
    (params.window == 0u || q_index - j < params.window || j < params.sinks);
}

@compute @workgroup_size(WG)
fn attend_split(inv: Invocation) {
  let split_id = inv.wg.x;
  let head = inv.wg.y;
  let query = inv.wg.z;
  let kv_head = head / (params.heads / params.kv_heads);
  if (inv.lid == 0u) {
    query_index = queries[query].q_index;
    query_table = queries[query].table_offset;
    split_start = split_id * params.keys_per_split;
  }
  let q_base = (query * params.heads + head) * params.head_dim;
  for (var d = inv.lid; d < params.head_dim; d += WG) {
    q_shared[d] = f32(q[q_base + d]);
  }
  // Uniform copies (the loop below holds barriers; the analysis counts everything reached
  // through `inv` as varying), and q_shared complete for everyone.
  let q_index = workgroupUniformLoad(&query_index);
  let table_offset = workgroupUniformLoad(&query_table);
  let start = workgroupUniformLoad(&split_start);

  var m = MASKED; // running max of this split's scores
  var l = 0.0; // running sum of exp(score - m)
  var acc = vec2<f32>(0.0); // weighted V for dims lid and lid + WG
  let end = min(start + params.keys_per_split, q_index + 1u);
  for (var chunk = start; chunk < end; chunk += WG) {
    let j = chunk + inv.lid;
    var s = MASKED;
    if (j < end && visible(j, q_index)) {
      s = params.scale * q_dot_k(kv_row(table_offset, j, kv_head));
      if (params.softcap > 0.0) {
        s = params.softcap * tanh(s / params.softcap);
      }
    }
    let new_m = max(m, workgroup_max(s, inv));
    // Nothing visible yet: new_m is still MASKED and every weight below is zero.
    let live = new_m != MASKED;
    let p = select(0.0, exp(s - new_m), live && s != MASKED);
    weights[inv.lid] = p;
    let correction = select(0.0, exp(m - new_m), m != MASKED);
    l = l * correction + workgroup_sum(p, inv); // its barriers also publish `weights`
    acc *= correction;
    let count = min(WG, end - chunk);
    for (var t = 0u; t < count; t++) {
      let w = weights[t];
      if (w != 0.0 && inv.lid < params.head_dim) {
        let v_row = kv_row(table_offset, chunk + t, kv_head);
        acc.x += w * v_at(v_row, inv.lid);
        if (inv.lid + WG < params.head_dim) {
          acc.y += w * v_at(v_row, inv.lid + WG);
        }
      }
    }
    m = new_m;
    workgroupBarrier(); // `weights` is rewritten by the next chunk
  }
  if (params.splits == 1u) {
    // The whole answer: what the reduce pass makes of a single split (exp(0) = 1 exactly).
    let out_base = (query * params.heads + head) * params.head_dim;
    if (inv.lid < params.head_dim) {
      single_out[out_base + inv.lid] = act(select(0.0, acc.x / l, l > 0.0));
    }
    if (inv.lid + WG < params.head_dim) {
      single_out[out_base + inv.lid + WG] = act(select(0.0, acc.y / l, l > 0.0));
    }
    return;
  }
  let part = (query * params.heads + head) * params.splits + split_id;
  if (inv.lid < params.head_dim) {
    part_acc[part * params.head_dim + inv.lid] = acc.x;
  }
  if (inv.lid + WG < params.head_dim) {
    part_acc[part * params.head_dim + inv.lid + WG] = acc.y;
  }
  if (inv.lid == 0u) {
    part_ml[2u * part] = m;
    part_ml[2u * part + 1u] = l;
  }
}

// Reduce pass bindings: the partials, read, and the output.
@group(0) @binding(1) var<storage, read> r_acc: array<f32>;
@group(0) @binding(2) var<storage, read> r_ml: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;

@compute @workgroup_size(WG)
fn attend_reduce(inv: Invocation) {
  let head = inv.wg.y;
  let query = inv.wg.z;
  let first = (query * params.heads + head) * params.splits;
  var top = MASKED;
  for (var s = 0u; s < params.splits; s++) {
    top = max(top, r_ml[2u * (first + s)]);
  }
  var denominator = 0.0;
  for (var s = 0u; s < params.splits; s++) {
    let m = r_ml[2u * (first + s)];
    if (m != MASKED) {
      denominator += exp(m - top) * r_ml[2u * (first + s) + 1u];
    }
  }
  let out_base = (query * params.heads + head) * params.head_dim;
  for (var d = inv.lid; d < params.head_dim; d += WG) {
    var total = 0.0;
    for (var s = 0u; s < params.splits; s++) {
      let m = r_ml[2u * (first + s)];
      if (m != MASKED) {
        total += exp(m - top) * r_acc[(first + s) * params.head_dim + d];
      }
    }
    // A query that sees no key at all (cannot happen causally) gets zeros, not NaN.
    out[out_base + d] = act(select(0.0, total / denominator, denominator > 0.0));
  }
}
