// Softmax of each row of scaled values, one workgroup per row:
//   out[i] = exp(scale * x[i] - max) / sum_j exp(scale * x[j] - max)
// scale is 1 / temperature for sampling, 1 / sqrt(head_dim) for attention scores.
// x (rows, n) -> out (rows, n); out must not alias x.
#include "include/enables.wgsl"
#include "include/reduce.wgsl"

struct Params {
  rows: u32,
  n: u32,
  scale: f32,
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> out: array<act>;

@compute @workgroup_size(WG)
fn main(inv: Invocation) {
  let row = flat_workgroup(inv);
  let live = row < params.rows;
  let base = row * params.n;
  var top = bitcast<f32>(0xff7fffffu); // the lowest finite f32
  if (live) {
    for (var i = inv.lid; i < params.n; i += WG) {
      top = max(top, params.scale * f32(x[base + i]));
    }
  }
  top = workgroup_max(top, inv);
  var sum = 0.0;
  if (live) {
    for (var i = inv.lid; i < params.n; i += WG) {
      sum += exp(params.scale * f32(x[base + i]) - top);
    }
  }
  sum = workgroup_sum(sum, inv);
  if (live) {
    let inv_sum = 1.0 / sum;
    for (var i = inv.lid; i < params.n; i += WG) {
      out[base + i] = act(exp(params.scale * f32(x[base + i]) - top) * inv_sum);
    }
  }
}
