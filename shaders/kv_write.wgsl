// Writes new tokens' K and V into a paged cache (layout: attention.wgsl), one invocation per
// element. k_new, v_new (tokens, kv_heads, head_dim) -> the sequence's cache slots
// start .. start + tokens - 1, through its block table.
#include "include/enables.wgsl"

struct Params {
  tokens: u32,
  kv_heads: u32,
  head_dim: u32,
  block_tokens: u32,
  start: u32, // cache index of the first new token
  table_offset: u32, // where the sequence starts in `table`
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> k_new: array<act>;
@group(0) @binding(2) var<storage, read> v_new: array<act>;
@group(0) @binding(3) var<storage, read> table: array<u32>;
@group(0) @binding(4) var<storage, read_write> k_cache: array<act>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<act>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.tokens * params.kv_heads * params.head_dim) {
    return;
  }
  let d = i % params.head_dim;
  let kv_head = (i / params.head_dim) % params.kv_heads;
  let j = params.start + i / (params.head_dim * params.kv_heads);
  let block = table[params.table_offset + j / params.block_tokens];
  let slot = j % params.block_tokens;
  let at = ((block * params.kv_heads + kv_head) * params.block_tokens + slot) * params.head_dim + d;
  k_cache[at] = k_new[i];
  v_cache[at] = v_new[i];
}
