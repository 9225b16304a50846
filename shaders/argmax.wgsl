// Greedy sampling on the GPU: the index of the largest logit, ties to the lowest index (as
// llama.cpp's greedy sampler), so only one u32 per sequence comes back to the CPU.
// logits (rows, n) act -> ids (rows,) u32; one workgroup per row. A row whose best logit is not
// finite (every logit NaN, or an infinity) gives NONE: past the vocabulary, for the caller to
// name the broken model rather than emit a token of garbage.
#include "include/enables.wgsl"

struct Params {
  rows: u32,
  n: u32, // vocabulary size
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<act>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;

override WG: u32 = 256;

var<workgroup> best_value: array<f32, WG>;
var<workgroup> best_index: array<u32, WG>;

const NONE: u32 = 0xffffffffu;

// Is (v1, i1) the better candidate than (v2, i2)? Anything beats none; NaN beats nothing else.
fn better(v1: f32, i1: u32, v2: f32, i2: u32) -> bool {
  if (i1 == NONE) {
    return false;
  }
  if (i2 == NONE || (v2 != v2 && v1 == v1)) {
    return true;
  }
  return v1 > v2 || (v1 == v2 && i1 < i2);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x;
  let base = row * params.n;
  var v = 0.0;
  var index = NONE;
  for (var i = lid; i < params.n; i += WG) {
    let candidate = f32(logits[base + i]);
    if (better(candidate, i, v, index)) {
      v = candidate;
      index = i;
    }
  }
  best_value[lid] = v;
  best_index[lid] = index;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride && better(best_value[lid + stride], best_index[lid + stride], best_value[lid], best_index[lid])) {
      best_value[lid] = best_value[lid + stride];
      best_index[lid] = best_index[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let finite = (bitcast<u32>(best_value[0]) & 0x7f800000u) != 0x7f800000u;
    ids[row] = select(NONE, best_index[0], finite);
  }
}
