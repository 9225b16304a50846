// Writes a step's new K and V rows into a paged cache (layout: include/kv_cache.wgsl).
// k_new, v_new (tokens, kv_heads, head_dim) act -> for each token t, the slot queries[t].q_index
// of the sequence whose block table starts at queries[t].table_offset: every sequence of a
// batched step in one dispatch (the same QueryInfo rows attention reads).
//   float cache: one invocation per element, a copy (rounded to f16 with KV_F16).
//   KV_INT8: one invocation per (token, kv head) row: scale = max |x| / 127, values rounded.
#include "include/enables.wgsl"

struct Params {
  tokens: u32,
  kv_heads: u32,
  head_dim: u32,
  block_tokens: u32,
}

struct QueryInfo {
  table_offset: u32, // where the token's sequence starts in `table`
  q_index: u32, // the token's index in its sequence's cache
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> k_new: array<act>;
@group(0) @binding(2) var<storage, read> v_new: array<act>;
@group(0) @binding(3) var<storage, read> table: array<u32>;
@group(0) @binding(4) var<storage, read> queries: array<QueryInfo>;
#if KV_INT8
@group(0) @binding(5) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<u32>;
#else
@group(0) @binding(5) var<storage, read_write> k_cache: array<kv>;
@group(0) @binding(6) var<storage, read_write> v_cache: array<kv>;
#endif

// The cache row of new row r (token r / kv_heads, kv head r % kv_heads).
fn slot(r: u32) -> KvRow {
  let token = queries[r / params.kv_heads];
  return kv_row(token.table_offset, token.q_index, r % params.kv_heads);
}

#include "include/kv_cache.wgsl"

override WG: u32 = 256;

#if KV_INT8
// Row `src` (head_dim values from element src on) of k_new (is_k) or v_new, as int8.
fn scale_of(is_k: bool, src: u32) -> f32 {
  var amax = 0.0;
  for (var d = 0u; d < params.head_dim; d++) {
    amax = max(amax, abs(f32(select(v_new[src + d], k_new[src + d], is_k))));
  }
  return amax / 127.0;
}

fn packed(is_k: bool, src: u32, inv_scale: f32) -> u32 {
  var word = 0u;
  for (var b = 0u; b < 4u; b++) {
    let x = f32(select(v_new[src + b], k_new[src + b], is_k));
    let q = i32(round(clamp(x * inv_scale, -127.0, 127.0)));
    word |= (bitcast<u32>(q) & 0xffu) << (8u * b);
  }
  return word;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG; // (token, kv head) row
  if (r >= params.tokens * params.kv_heads) {
    return;
  }
  let src = r * params.head_dim;
  let row = slot(r);
  let k_scale = scale_of(true, src);
  let v_scale = scale_of(false, src);
  let k_inv = select(0.0, 1.0 / k_scale, k_scale > 0.0);
  let v_inv = select(0.0, 1.0 / v_scale, v_scale > 0.0);
  for (var w = 0u; w < params.head_dim / 4u; w++) {
    k_cache[row.base + w] = packed(true, src + 4u * w, k_inv);
    v_cache[row.base + w] = packed(false, src + 4u * w, v_inv);
  }
  k_cache[row.scale] = bitcast<u32>(k_scale);
  v_cache[row.scale] = bitcast<u32>(v_scale);
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.tokens * params.kv_heads * params.head_dim) {
    return;
  }
  let d = i % params.head_dim;
  let r = i / params.head_dim; // (token, kv head) row
  let row = slot(r);
  k_cache[row.base + d] = kv(k_new[i]);
  v_cache[row.base + d] = kv(v_new[i]);
}
#endif
