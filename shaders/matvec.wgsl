// Matrix-vector product for decode: out = W · x, one workgroup per output row.
// x (cols,), W (rows, cols) row-major -> out (rows,)
// Weights are read once, in order, by consecutive invocations (coalesced).
#include "include/enables.wgsl"
#include "include/reduce.wgsl"

struct Params {
  rows: u32, // output length
  cols: u32, // input length; W's row stride, in elements
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(inv: Invocation) {
  let row = flat_workgroup(inv);
  // Rows past the end still reach the barriers in workgroup_sum; they just write nothing.
  var acc = 0.0;
  if (row < params.rows) {
    let base = row * params.cols;
    for (var i = inv.lid; i < params.cols; i += WG) {
      acc += w[base + i] * x[i];
    }
  }
  let total = workgroup_sum(acc, inv);
  if (row < params.rows && inv.lid == 0u) {
    out[row] = total;
  }
}
