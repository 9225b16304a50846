// Matrix-vector product for decode, for a batch of M ≤ 8 vectors (sub-agents decoding at once):
// out[m] = W · x[m]. One workgroup per output row; its invocations stride over the row in
// 32-value units, dequantizing in registers, and each weight is read once for all M vectors.
// x (M, cols) f32, W (rows, cols) in any format of include/weights.wgsl -> out (M, out_stride)
#include "include/enables.wgsl"
#include "include/reduce.wgsl"
#include "include/weights.wgsl"

struct Params {
  rows: u32, // output rows in this dispatch
  cols: u32, // values per row = input length
  row_bytes: u32, // bytes per weight row
  row_offset: u32, // the first output row of this dispatch (w is bound from that row on)
  out_stride: u32, // elements between the outputs of consecutive batch entries
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Batch size; the accumulators are sized for the largest.
override M: u32 = 1u;
const MAX_M: u32 = 8u;

fn x4(m: u32, k: u32) -> vec4<f32> {
  let b = m * params.cols + k;
  return vec4<f32>(x[b], x[b + 1u], x[b + 2u], x[b + 3u]);
}

@compute @workgroup_size(WG)
fn main(inv: Invocation) {
  let row = flat_workgroup(inv);
  var acc: array<f32, MAX_M>;
  // Rows past the end still reach the barriers in workgroup_sum; they just write nothing.
  if (row < params.rows) {
    let row_byte = row * params.row_bytes;
    let units = params.cols / UNIT_VALUES;
    for (var u = inv.lid; u < units; u += WG) {
      let unit = unit_at(row_byte, u);
      for (var i = 0u; i < 8u; i++) {
        let wv = unit_w4(unit, i);
        let k = u * UNIT_VALUES + 4u * i;
        for (var m = 0u; m < M; m++) {
          acc[m] += dot(wv, x4(m, k));
        }
      }
    }
#if DENSE
    // Float rows need not be whole units: the tail, one value per invocation.
    for (var j = units * UNIT_VALUES + inv.lid; j < params.cols; j += WG) {
      let wj = dense_weight(row_byte, j);
      for (var m = 0u; m < M; m++) {
        acc[m] += wj * x[m * params.cols + j];
      }
    }
#endif
  }
  for (var m = 0u; m < M; m++) {
    let total = workgroup_sum(acc[m], inv);
    if (row < params.rows && inv.lid == 0u) {
      out[m * params.out_stride + params.row_offset + row] = total;
    }
  }
}
