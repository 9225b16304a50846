// Matrix multiply for prefill: out = X · Wᵀ, weights in any format of include/weights.wgsl.
// X (M, K) act, W (N, K) rows `row_bytes` apart -> out (M, out_stride) at column col_offset + n.
// A workgroup of 8 x 8 invocations computes a 32 x 32 output tile, 4 x 4 per invocation,
// stepping over K in 32-value units: each step stages 32 rows of X and 32 dequantized rows of
// W in workgroup memory (8 KiB), so every weight is decoded once per tile, not once per output.
// 4 x 4 per invocation reads 8 staged values for 16 multiply-adds (2 x 2 read 4 for 4), and 64
// invocations meet at each barrier: on a CPU device (SwiftShader), where a barrier switches
// between every invocation's stack and a workgroup-memory read costs more than the arithmetic,
// that took a 64 x 1024 x 1024 product from ~0.37 to ~0.85 GFLOP/s. The accumulators are four
// named vectors, not an array: indexed in a loop, an array lives in memory there.
// main_cpu, for a CPU device: 4 x 4 invocations of 8 x 8 outputs each (10 staged reads for 64
// multiply-adds, 16 invocations at a barrier) and whole units decoded at once (unit_weights):
// ~1.15 GFLOP/s at 64 x 1024 x 1024 on SwiftShader, where a 16-invocation workgroup would
// leave most of a GPU's SIMD lanes idle.
// main_wide, for a GPU: 16 x 16 invocations of 4 x 4 outputs, a 64 x 64 tile (16 KiB staged):
// each weight and x value read from memory serves 64 outputs, twice main's 32, and a workgroup
// of 256 keeps a GPU's SIMD lanes busy. Not with Q8_1_SUMS (its sums would pass 16 KiB).
// Q8_1_SUMS (Q4_1, Q5_1 weights, x rounded to q8_1 by dot_input.wgsl): each unit also adds
// x's correction for the block times the weight block's offset, as llama.cpp's q8_1 dot
// products multiply the offset by the block's f16 sum.
#include "include/enables.wgsl"
#include "include/weights.wgsl"

struct Params {
  m: u32, // rows of X (tokens)
  n: u32, // rows of W in this dispatch (output columns)
  k: u32, // values per row of X and W
  row_bytes: u32, // bytes per weight row
  col_offset: u32, // the first output column of this dispatch (w is bound from that row on)
  out_stride: u32, // elements per output row (all columns)
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<act>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;

const TILE: u32 = 32u;
var<workgroup> xs: array<array<f32, 32>, 32>; // [row of X][k]
var<workgroup> ws: array<array<f32, 32>, 32>; // [row of W][k]

#if Q8_1_SUMS
@group(0) @binding(4) var<storage, read> corrections: array<f32>; // (m, k / 32)
var<workgroup> xc: array<f32, 32>; // [row of X]: this unit's correction
var<workgroup> wo: array<f32, 32>; // [row of W]: this unit's block offset

// Row r's x correction and weight block offset for unit u (zeros past the matrices).
fn stage_sums(r: u32, xm: u32, wn: u32, u: u32) {
  var c = 0.0;
  if (xm < params.m) {
    c = corrections[xm * (params.k / UNIT_VALUES) + u];
  }
  var o = 0.0;
  if (wn < params.n) {
    o = unit_offset(wn * params.row_bytes, u);
  }
  xc[r] = c;
  wo[r] = o;
}
#endif

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let n0 = wg.x * TILE;
  let m0 = wg.y * TILE;
  let units = (params.k + UNIT_VALUES - 1u) / UNIT_VALUES;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  // Staging roles: invocation t stages half a unit (16 values) of row t / 2, of X and of W.
  let r = t / 2u;
  let half = 16u * (t % 2u);
  let xm = m0 + r;
  let wn = n0 + r;
  let row = 4u * lid.y;
  let col = 4u * lid.x;
  for (var u = 0u; u < units; u++) {
    let k0 = u * UNIT_VALUES;
    stage_x(r, xm, k0, half, 16u);
    if (w_whole_unit(wn, k0)) {
      stage_half(wn * params.row_bytes, u, r, half);
    } else {
      stage_w_values(r, wn, k0, half, 16u);
    }
#if Q8_1_SUMS
    if (half == 0u) {
      stage_sums(r, xm, wn, u);
    }
#endif
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      let a = vec4<f32>(xs[row][k], xs[row + 1u][k], xs[row + 2u][k], xs[row + 3u][k]);
      let b = vec4<f32>(ws[col][k], ws[col + 1u][k], ws[col + 2u][k], ws[col + 3u][k]);
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
#if Q8_1_SUMS
    let o = vec4<f32>(wo[col], wo[col + 1u], wo[col + 2u], wo[col + 3u]);
    acc0 += xc[row] * o;
    acc1 += xc[row + 1u] * o;
    acc2 += xc[row + 2u] * o;
    acc3 += xc[row + 3u] * o;
#endif
    workgroupBarrier();
  }
  store_row(m0 + row, n0 + col, acc0);
  store_row(m0 + row + 1u, n0 + col, acc1);
  store_row(m0 + row + 2u, n0 + col, acc2);
  store_row(m0 + row + 3u, n0 + col, acc3);
}

// Values k0 + start .. k0 + start + count - 1 of row xm of X into xs[r] (zeros past the matrix).
fn stage_x(r: u32, xm: u32, k0: u32, start: u32, count: u32) {
  for (var j = 0u; j < count; j++) {
    xs[r][start + j] = x_value(xm, k0 + start + j);
  }
}

// X[xm][kk], 0 past the matrix.
fn x_value(xm: u32, kk: u32) -> f32 {
  if (xm < params.m && kk < params.k) {
    return f32(x[xm * params.k + kk]);
  }
  return 0.0;
}

// Whether weight row wn has a whole unit at k0 (false past the last row, and for the partial
// last unit of a float row): then it is staged by unit, else value by value.
fn w_whole_unit(wn: u32, k0: u32) -> bool {
#if DENSE
  return wn < params.n && k0 + UNIT_VALUES <= params.k;
#else
  return wn < params.n;
#endif
}

// Values k0 + start .. of weight row wn into ws[r], one at a time, zeros past the matrix.
fn stage_w_values(r: u32, wn: u32, k0: u32, start: u32, count: u32) {
  for (var j = 0u; j < count; j++) {
    ws[r][start + j] = w_value(wn, k0 + start + j);
  }
}

// W[wn][kk] of a float row, value by value (0 past the matrix; block formats stage by unit).
fn w_value(wn: u32, kk: u32) -> f32 {
#if DENSE
  if (wn < params.n && kk < params.k) {
    return dense_weight(wn * params.row_bytes, kk);
  }
#endif
  return 0.0;
}

// Values half .. half + 15 of unit u of the weight row at `row_byte`, dequantized into ws[r].
fn stage_half(row_byte: u32, u: u32, r: u32, half: u32) {
  let unit = unit_at(row_byte, u);
  let first = half / 4u;
  let w0 = unit_w4(unit, first);
  let w1 = unit_w4(unit, first + 1u);
  let w2 = unit_w4(unit, first + 2u);
  let w3 = unit_w4(unit, first + 3u);
  ws[r][half] = w0.x;
  ws[r][half + 1u] = w0.y;
  ws[r][half + 2u] = w0.z;
  ws[r][half + 3u] = w0.w;
  ws[r][half + 4u] = w1.x;
  ws[r][half + 5u] = w1.y;
  ws[r][half + 6u] = w1.z;
  ws[r][half + 7u] = w1.w;
  ws[r][half + 8u] = w2.x;
  ws[r][half + 9u] = w2.y;
  ws[r][half + 10u] = w2.z;
  ws[r][half + 11u] = w2.w;
  ws[r][half + 12u] = w3.x;
  ws[r][half + 13u] = w3.y;
  ws[r][half + 14u] = w3.z;
  ws[r][half + 15u] = w3.w;
}

const WIDE: u32 = 64u;
var<workgroup> xw: array<array<f32, 32>, 64>; // [row of X][k]
var<workgroup> ww: array<array<f32, 32>, 64>; // [row of W][k]

#if !Q8_1_SUMS
@compute @workgroup_size(16, 16)
fn main_wide(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let n0 = wg.x * WIDE;
  let m0 = wg.y * WIDE;
  let units = (params.k + UNIT_VALUES - 1u) / UNIT_VALUES;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  // Staging roles: invocation t stages a quarter unit (8 values) of row t / 4, of X and of W.
  let r = t / 4u;
  let quarter = 8u * (t % 4u);
  let xm = m0 + r;
  let wn = n0 + r;
  let row = 4u * lid.y;
  let col = 4u * lid.x;
  for (var u = 0u; u < units; u++) {
    let k0 = u * UNIT_VALUES;
    for (var j = 0u; j < 8u; j++) {
      xw[r][quarter + j] = x_value(xm, k0 + quarter + j);
    }
    if (w_whole_unit(wn, k0)) {
      let unit = unit_at(wn * params.row_bytes, u);
      let lo = unit_w4(unit, quarter / 4u);
      let hi = unit_w4(unit, quarter / 4u + 1u);
      ww[r][quarter] = lo.x;
      ww[r][quarter + 1u] = lo.y;
      ww[r][quarter + 2u] = lo.z;
      ww[r][quarter + 3u] = lo.w;
      ww[r][quarter + 4u] = hi.x;
      ww[r][quarter + 5u] = hi.y;
      ww[r][quarter + 6u] = hi.z;
      ww[r][quarter + 7u] = hi.w;
    } else {
      for (var j = 0u; j < 8u; j++) {
        ww[r][quarter + j] = w_value(wn, k0 + quarter + j);
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      let a = vec4<f32>(xw[row][k], xw[row + 1u][k], xw[row + 2u][k], xw[row + 3u][k]);
      let b = vec4<f32>(ww[col][k], ww[col + 1u][k], ww[col + 2u][k], ww[col + 3u][k]);
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }
  store_row(m0 + row, n0 + col, acc0);
  store_row(m0 + row + 1u, n0 + col, acc1);
  store_row(m0 + row + 2u, n0 + col, acc2);
  store_row(m0 + row + 3u, n0 + col, acc3);
}
#endif

@compute @workgroup_size(4, 4)
fn main_cpu(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let n0 = wg.x * TILE;
  let m0 = wg.y * TILE;
  let units = (params.k + UNIT_VALUES - 1u) / UNIT_VALUES;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var a4 = vec4<f32>(0.0);
  var a5 = vec4<f32>(0.0);
  var a6 = vec4<f32>(0.0);
  var a7 = vec4<f32>(0.0);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  var c4 = vec4<f32>(0.0);
  var c5 = vec4<f32>(0.0);
  var c6 = vec4<f32>(0.0);
  var c7 = vec4<f32>(0.0);
  let row = 8u * lid.y;
  let col = 8u * lid.x;
  for (var u = 0u; u < units; u++) {
    let k0 = u * UNIT_VALUES;
    for (var h = 0u; h < 2u; h++) {
      let r = 2u * t + h;
      stage_x(r, m0 + r, k0, 0u, 32u);
      let wn = n0 + r;
      if (w_whole_unit(wn, k0)) {
        stage_w(unit_weights(wn * params.row_bytes, u), r);
      } else {
        stage_w_values(r, wn, k0, 0u, 32u);
      }
#if Q8_1_SUMS
      stage_sums(r, m0 + r, wn, u);
#endif
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE; k++) {
      let b = vec4<f32>(ws[col][k], ws[col + 1u][k], ws[col + 2u][k], ws[col + 3u][k]);
      let d = vec4<f32>(ws[col + 4u][k], ws[col + 5u][k], ws[col + 6u][k], ws[col + 7u][k]);
      var x = xs[row][k];
      a0 += x * b; c0 += x * d;
      x = xs[row + 1u][k];
      a1 += x * b; c1 += x * d;
      x = xs[row + 2u][k];
      a2 += x * b; c2 += x * d;
      x = xs[row + 3u][k];
      a3 += x * b; c3 += x * d;
      x = xs[row + 4u][k];
      a4 += x * b; c4 += x * d;
      x = xs[row + 5u][k];
      a5 += x * b; c5 += x * d;
      x = xs[row + 6u][k];
      a6 += x * b; c6 += x * d;
      x = xs[row + 7u][k];
      a7 += x * b; c7 += x * d;
    }
#if Q8_1_SUMS
    let ob = vec4<f32>(wo[col], wo[col + 1u], wo[col + 2u], wo[col + 3u]);
    let od = vec4<f32>(wo[col + 4u], wo[col + 5u], wo[col + 6u], wo[col + 7u]);
    var xo = xc[row];
    a0 += xo * ob; c0 += xo * od;
    xo = xc[row + 1u];
    a1 += xo * ob; c1 += xo * od;
    xo = xc[row + 2u];
    a2 += xo * ob; c2 += xo * od;
    xo = xc[row + 3u];
    a3 += xo * ob; c3 += xo * od;
    xo = xc[row + 4u];
    a4 += xo * ob; c4 += xo * od;
    xo = xc[row + 5u];
    a5 += xo * ob; c5 += xo * od;
    xo = xc[row + 6u];
    a6 += xo * ob; c6 += xo * od;
    xo = xc[row + 7u];
    a7 += xo * ob; c7 += xo * od;
#endif
    workgroupBarrier();
  }
  store_row(m0 + row, n0 + col, a0);
  store_row(m0 + row + 1u, n0 + col, a1);
  store_row(m0 + row + 2u, n0 + col, a2);
  store_row(m0 + row + 3u, n0 + col, a3);
  store_row(m0 + row + 4u, n0 + col, a4);
  store_row(m0 + row + 5u, n0 + col, a5);
  store_row(m0 + row + 6u, n0 + col, a6);
  store_row(m0 + row + 7u, n0 + col, a7);
  store_row(m0 + row, n0 + col + 4u, c0);
  store_row(m0 + row + 1u, n0 + col + 4u, c1);
  store_row(m0 + row + 2u, n0 + col + 4u, c2);
  store_row(m0 + row + 3u, n0 + col + 4u, c3);
  store_row(m0 + row + 4u, n0 + col + 4u, c4);
  store_row(m0 + row + 5u, n0 + col + 4u, c5);
  store_row(m0 + row + 6u, n0 + col + 4u, c6);
  store_row(m0 + row + 7u, n0 + col + 4u, c7);
}

// A unit's 32 dequantized values into ws[r].
fn stage_w(v: Unit32, r: u32) {
  stage4(r, 0u, v.w0);
  stage4(r, 4u, v.w1);
  stage4(r, 8u, v.w2);
  stage4(r, 12u, v.w3);
  stage4(r, 16u, v.w4);
  stage4(r, 20u, v.w5);
  stage4(r, 24u, v.w6);
  stage4(r, 28u, v.w7);
}

fn stage4(r: u32, at: u32, v: vec4<f32>) {
  ws[r][at] = v.x;
  ws[r][at + 1u] = v.y;
  ws[r][at + 2u] = v.z;
  ws[r][at + 3u] = v.w;
}

// Output row m, columns n .. n + 3 (those inside the matrix).
fn store_row(m: u32, n: u32, v: vec4<f32>) {
  if (m >= params.m) {
    return;
  }
  let base = m * params.out_stride + params.col_offset + n;
  if (n < params.n) { out[base] = act(v.x); }
  if (n + 1u < params.n) { out[base + 1u] = act(v.y); }
  if (n + 2u < params.n) { out[base + 2u] = act(v.z); }
  if (n + 3u < params.n) { out[base + 3u] = act(v.w); }
}
