// RMSNorm, one workgroup per row: out = x / sqrt(mean(x²) + eps) * weight
// x (rows, n) act, weight (n,) f32 -> out (rows, n) act; out must not alias x (WebGPU forbids a writable
// binding overlapping another binding in the same dispatch).
#include "include/enables.wgsl"
#include "include/reduce.wgsl"

struct Params {
  rows: u32,
  n: u32, // row length, in elements
  eps: f32,
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;

@compute @workgroup_size(WG)
fn main(inv: Invocation) {
  let row = flat_workgroup(inv);
  let base = row * params.n;
  var sum_sq = 0.0;
  if (row < params.rows) {
    for (var i = inv.lid; i < params.n; i += WG) {
      let v = f32(x[base + i]);
      sum_sq += v * v;
    }
  }
  let total = workgroup_sum(sum_sq, inv);
  if (row < params.rows) {
    let scale = inverseSqrt(total / f32(params.n) + params.eps);
    for (var i = inv.lid; i < params.n; i += WG) {
      out[base + i] = act(f32(x[base + i]) * scale * weight[i]);
    }
  }
}
