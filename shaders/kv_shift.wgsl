// The context shift of a sliding window: every cached K row of the listed blocks rotated by one
// angle set (back by the evicted count), as rope.wgsl would have rotated it, in place.
// cache: a layer's K cache (layout: include/kv_cache.wgsl), table (count,) u32 physical blocks,
// angles (rope_dims / 2) vec2 f32: (cos, sin) per pair, from the host (see rope.wgsl).
//   float cache: one invocation per (block, kv head, slot, pair).
//   KV_INT8: one invocation per (block, kv head, slot) row: the row is unpacked, rotated, and
//     packed again with a new scale (max |x| / 127 of the rotated row).
#include "include/enables.wgsl"

struct Params {
  count: u32, // blocks listed
  kv_heads: u32,
  head_dim: u32,
  block_tokens: u32,
  rope_dims: u32, // rotated elements per row (even, ≤ head_dim)
  neox: u32, // 1: NeoX pairs (x[i], x[i + rope_dims / 2]), 0: adjacent pairs
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
#if KV_INT8
@group(0) @binding(1) var<storage, read_write> cache: array<u32>;
#else
@group(0) @binding(1) var<storage, read_write> cache: array<kv>;
#endif
// The blocks to rotate, read by kv_row() as the table of one "sequence" whose token
// b * BT + slot is slot `slot` of listed block b.
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read> angles: array<vec2f>;

#include "include/kv_cache.wgsl"

override WG: u32 = 256;

// The two elements pair i rotates: (a, b).
fn pair_of(i: u32) -> vec2u {
  let half = params.rope_dims / 2u;
  return select(vec2u(2u * i, 2u * i + 1u), vec2u(i, i + half), params.neox == 1u);
}

#if KV_INT8
// head_dim ≤ 512: at most 128 words a row.
const MAX_ROW_WORDS = 128u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG; // (listed block, kv head, slot)
  let per_block = params.kv_heads * params.block_tokens;
  if (r >= params.count * per_block) {
    return;
  }
  let within = r % per_block;
  let row = kv_row(0u, (r / per_block) * params.block_tokens + within % params.block_tokens,
                   within / params.block_tokens);
  let words = params.head_dim / 4u;
  var packed: array<u32, MAX_ROW_WORDS>;
  for (var w = 0u; w < words; w++) {
    packed[w] = cache[row.base + w];
  }
  let scale = bitcast<f32>(cache[row.scale]);
  // Pass 1 finds the rotated row's largest magnitude; pass 2 rotates again and packs.
  var amax = 0.0;
  for (var d = 0u; d < params.head_dim; d++) {
    amax = max(amax, abs(rotated(&packed, scale, d)));
  }
  let new_scale = amax / 127.0;
  let inv = select(0.0, 1.0 / new_scale, new_scale > 0.0);
  for (var w = 0u; w < words; w++) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let x = rotated(&packed, scale, 4u * w + b);
      let q = i32(round(clamp(x * inv, -127.0, 127.0)));
      word |= (bitcast<u32>(q) & 0xffu) << (8u * b);
    }
    cache[row.base + w] = word;
  }
  cache[row.scale] = bitcast<u32>(new_scale);
}

// Element d of the row after rotation (elements past rope_dims pass through).
fn rotated(packed: ptr<function, array<u32, MAX_ROW_WORDS>>, scale: f32, d: u32) -> f32 {
  let x = int8_of((*packed)[d / 4u], d) * scale;
  if (d >= params.rope_dims) {
    return x;
  }
  let half = params.rope_dims / 2u;
  let i = select(d / 2u, d % half, params.neox == 1u);
  let ab = pair_of(i);
  let x0 = int8_of((*packed)[ab.x / 4u], ab.x) * scale;
  let x1 = int8_of((*packed)[ab.y / 4u], ab.y) * scale;
  let cs = angles[i];
  return select(x0 * cs.y + x1 * cs.x, x0 * cs.x - x1 * cs.y, d == ab.x);
}
#else
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half = params.rope_dims / 2u;
  let index = gid.x + gid.y * nwg.x * WG;
  let per_block = params.kv_heads * params.block_tokens;
  if (index >= params.count * per_block * half) {
    return;
  }
  let i = index % half;
  let r = index / half; // (listed block, kv head, slot)
  let within = r % per_block;
  let row = kv_row(0u, (r / per_block) * params.block_tokens + within % params.block_tokens,
                   within / params.block_tokens);
  let ab = row.base + pair_of(i);
  let cs = angles[i];
  let x0 = f32(cache[ab.x]);
  let x1 = f32(cache[ab.y]);
  cache[ab.x] = kv(x0 * cs.x - x1 * cs.y);
  cache[ab.y] = kv(x0 * cs.y + x1 * cs.x);
}
#endif
