// Matrix-vector product for decode, for a batch of M ≤ 8 vectors (sub-agents decoding at once):
// out[m] = W · x[m]. Each pair of rows belongs to a group of T invocations that stride over it
// in 32-value units, dequantizing in registers and loading each x value once for both rows; a
// workgroup holds 2 * WG / T rows, and every weight is read once for all M vectors.
//   SUBGROUPS: T is the subgroup size, so a row's sum is one subgroupAdd and no barrier.
//   otherwise: partial sums meet in workgroup memory after a single barrier.
// Fused variants:
//   BIAS:    out = W · x + bias                  (Qwen2's q/k/v projections)
//   RESIDUAL: out[m] = W · x[m] + residual[m]    (a projection back into the residual stream:
//            the attention output's and the feed-forward's, the add in the same pass)
//   GATE_UP: out = silu(Wg · x) * (Wu · x)       (the SwiGLU feed-forward gate), with Wu's rows
//            `up_offset` bytes after Wg's in the same binding: one pass, no intermediate; a
//            group's two rows are a gate row and its up row (WG / T outputs a workgroup).
// x (M, cols) act, W (rows, cols) in any format of include/weights.wgsl -> out (M, out_stride)
#include "include/enables.wgsl"
#include "include/reduce.wgsl"
#include "include/weights.wgsl"

struct Params {
  rows: u32, // output rows in this dispatch
  cols: u32, // values per row = input length
  row_bytes: u32, // bytes per weight row
  row_offset: u32, // the first output row of this dispatch (w is bound from that row on)
  out_stride: u32, // elements between the outputs of consecutive batch entries
  up_offset: u32, // GATE_UP: bytes from a gate row to its up row
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<act>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>; // (all rows,)
#endif
#if RESIDUAL
@group(0) @binding(4) var<storage, read> residual: array<act>; // (M, out_stride), like out
#endif

// Batch size; the accumulators are sized for the largest.
override M: u32 = 1u;
const MAX_M: u32 = 8u;
// Invocations per row: a power of two dividing WG (the subgroup size when SUBGROUPS).
override T: u32 = 32u;
// Dot products reduced per batch entry: two rows (or a gate row and its up row).
const PARTS: u32 = 2u;

// x[b .. b + 3]
fn x4(b: u32) -> vec4<f32> {
  return vec4<f32>(f32(x[b]), f32(x[b + 1u]), f32(x[b + 2u]), f32(x[b + 3u]));
}

// `sum` plus the dot products of two rows' units with x[at .. at + 31], each x value loaded
// once for both, added in order (each row's sum stays what it was with a loop), written out (a
// loop costs more on a CPU device).
fn unit_dot2(sum: vec2<f32>, a: Unit32, b: Unit32, at: u32) -> vec2<f32> {
  var xv = x4(at);
  var s = sum + vec2<f32>(dot(a.w0, xv), dot(b.w0, xv));
  xv = x4(at + 4u);
  s += vec2<f32>(dot(a.w1, xv), dot(b.w1, xv));
  xv = x4(at + 8u);
  s += vec2<f32>(dot(a.w2, xv), dot(b.w2, xv));
  xv = x4(at + 12u);
  s += vec2<f32>(dot(a.w3, xv), dot(b.w3, xv));
  xv = x4(at + 16u);
  s += vec2<f32>(dot(a.w4, xv), dot(b.w4, xv));
  xv = x4(at + 20u);
  s += vec2<f32>(dot(a.w5, xv), dot(b.w5, xv));
  xv = x4(at + 24u);
  s += vec2<f32>(dot(a.w6, xv), dot(b.w6, xv));
  xv = x4(at + 28u);
  return s + vec2<f32>(dot(a.w7, xv), dot(b.w7, xv));
}

// This invocation's share of the dot products of the rows at `a_byte` and `b_byte` (two rows
// of the matrix, or a gate row and its up row) with every x[m]: [m] = (a, b). Two rows a pass
// load each x value once for both; on a CPU device (SwiftShader) the loads cost more than the
// arithmetic.
fn two_rows_dot(a_byte: u32, b_byte: u32, lane: u32) -> array<vec2<f32>, MAX_M> {
  var acc: array<vec2<f32>, MAX_M>;
  let units = params.cols / UNIT_VALUES;
  for (var u = lane; u < units; u += T) {
    let ua = unit_weights(a_byte, u);
    let ub = unit_weights(b_byte, u);
    let k = u * UNIT_VALUES;
    acc[0] = unit_dot2(acc[0], ua, ub, k);
    if (M > 1u) { acc[1] = unit_dot2(acc[1], ua, ub, params.cols + k); }
    if (M > 2u) { acc[2] = unit_dot2(acc[2], ua, ub, 2u * params.cols + k); }
    if (M > 3u) { acc[3] = unit_dot2(acc[3], ua, ub, 3u * params.cols + k); }
    if (M > 4u) { acc[4] = unit_dot2(acc[4], ua, ub, 4u * params.cols + k); }
    if (M > 5u) { acc[5] = unit_dot2(acc[5], ua, ub, 5u * params.cols + k); }
    if (M > 6u) { acc[6] = unit_dot2(acc[6], ua, ub, 6u * params.cols + k); }
    if (M > 7u) { acc[7] = unit_dot2(acc[7], ua, ub, 7u * params.cols + k); }
  }
#if DENSE
  for (var j = units * UNIT_VALUES + lane; j < params.cols; j += T) {
    // Float rows need not be whole units: the tail, one value per invocation.
    let wa = dense_weight(a_byte, j);
    let wb = dense_weight(b_byte, j);
    for (var m = 0u; m < M; m++) {
      let xj = f32(x[m * params.cols + j]);
      acc[m] += vec2<f32>(wa * xj, wb * xj);
    }
  }
#endif
  return acc;
}

fn finish(m: u32, row: u32, dots: vec2<f32>) {
  let at = params.row_offset + row;
#if GATE_UP
  let g = dots.x;
  var value = g / (1.0 + exp(-g)) * dots.y;
#else
  var value = dots.x;
#endif
#if BIAS
  value += bias[at];
#endif
#if RESIDUAL
  value += f32(residual[m * params.out_stride + at]);
#endif
  out[m * params.out_stride + at] = act(value);
}

#if !SUBGROUPS
var<workgroup> partials: array<f32, WG * MAX_M * PARTS>;
#endif

@compute @workgroup_size(WG)
fn main(inv: Invocation) {
  let group = inv.lid / T;
  let lane = inv.lid % T;
#if GATE_UP
  // A gate row and its up row.
  let row = flat_workgroup(inv) * (WG / T) + group;
  let second = row;
#else
  // Two neighbouring rows (the second may be past the end: then it repeats the first).
  let row = 2u * (flat_workgroup(inv) * (WG / T) + group);
  let second = row + 1u;
#endif
  // acc[m]: (the row, the second) — (gate, up) for GATE_UP.
  var acc: array<vec2<f32>, MAX_M>;
  // Rows past the end still reach the reduction below; they just write nothing.
  if (row < params.rows) {
    let a_byte = row * params.row_bytes;
#if GATE_UP
    let b_byte = params.up_offset + a_byte;
#else
    let b_byte = select(a_byte, a_byte + params.row_bytes, second < params.rows);
#endif
    acc = two_rows_dot(a_byte, b_byte, lane);
  }
#if SUBGROUPS
  for (var m = 0u; m < M; m++) {
    let dots = vec2<f32>(subgroupAdd(acc[m].x), subgroupAdd(acc[m].y));
    if (row < params.rows && lane == 0u) {
      write(m, row, second, dots);
    }
  }
#else
  for (var p = 0u; p < PARTS; p++) {
    for (var m = 0u; m < M; m++) {
      partials[(p * MAX_M + m) * WG + inv.lid] = acc[m][p];
    }
  }
  workgroupBarrier();
  if (row < params.rows && lane == 0u) {
    for (var m = 0u; m < M; m++) {
      var dots = vec2<f32>(0.0);
      for (var p = 0u; p < PARTS; p++) {
        for (var i = 0u; i < T; i++) {
          dots[p] += partials[(p * MAX_M + m) * WG + inv.lid + i];
        }
      }
      write(m, row, second, dots);
    }
  }
#endif
}

// The outputs of a lane group: the gated product, or the two rows' (the second if it exists).
fn write(m: u32, row: u32, second: u32, dots: vec2<f32>) {
#if GATE_UP
  finish(m, row, dots);
#else
  finish(m, row, vec2<f32>(dots.x, 0.0));
  if (second < params.rows) {
    finish(m, second, vec2<f32>(dots.y, 0.0));
  }
#endif
}
