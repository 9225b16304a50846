// Matrix multiply for prefill: out = X · Wᵀ, weights in any format of include/weights.wgsl.
// X (M, K) act, W (N, K) rows `row_bytes` apart -> out (M, out_stride) at column col_offset + n.
// main, for a GPU: a workgroup of (TILE / 4)² invocations computes a TILE x TILE output tile,
// 4 x 4 per invocation, stepping over K in 32-value units: each step stages TILE rows of X and
// TILE dequantized rows of W in workgroup memory, so every weight is decoded once per tile, not
// once per output, and each staged value serves TILE outputs. TILE 64 (tuning.ts, 16 KiB staged,
// 256 invocations) is the default on a GPU; 32 (8 KiB, 64) where q8_1 sums must fit beside.
// 4 x 4 per invocation reads 2 staged vec4s for 16 multiply-adds. On a CPU device
// (SwiftShader), where a barrier switches between every invocation's stack and a
// workgroup-memory read costs more than the arithmetic, that took a 64 x 1024 x 1024 product
// from ~0.37 to ~0.85 GFLOP/s at TILE 32. The accumulators are four named vectors, not an array:
// indexed in a loop, an array lives in memory there.
// main_8x8: (TILE / 8)² invocations of 8 x 8 outputs each (4 staged vec4s for 64 multiply-adds)
// and whole units decoded at once (unit_weights). At TILE 32, for a CPU device: 16 invocations
// at a barrier, ~1.15 GFLOP/s at 64 x 1024 x 1024 on SwiftShader, where a 16-invocation
// workgroup would leave most of a GPU's SIMD lanes idle. At TILE 64 ('wide8', 64 invocations),
// for a GPU: twice main's multiply-adds per staged load, in a quarter of its invocations.
// ROUND_Q8, ROUND_F16, ROUND_BF16: x rounded as llama.cpp rounds it for the weights, as it is
// staged (a q8_0 block is one 32-value unit: its largest |x| is read first), so no dot_input
// pass runs before the product. ROUND_Q8_K (K-quant weights): a q8_k block spans 256 values,
// eight units; at its first unit each invocation that stages a row of X reads the row's whole
// block for its largest |x| (q8k_iscale) and keeps the scale in a register for the eight.
// main_idot (INT_DOT, with ROUND_Q8 or ROUND_Q8_K; the formats of unit_ints): main's tile and
// 4 x 4 outputs an invocation, but each unit staged as 8-bit integers, a row of X rounded and
// packed with its scale and sums, a row of W decoded to its integers with its scales and
// offsets (48 bytes a row either way, 128 as floats), and each output's unit one integer
// product (8 dot4I8Packed) scaled, where the float tile takes 32 multiply-adds and 4 staged
// vec4 loads: integer sums as llama.cpp's CPU dot products take them (scaled in another order,
// so equal to the last bits only).
// STAGE_F16 (F16 weights with x rounded to f16, where the adapter has shader-f16): main's and
// main_8x8's tiles staged as f16s, exactly the values the f32 tiles hold, in half the bytes.
// Q8_1_SUMS (Q4_1, Q5_1 weights, x rounded to q8_1 by dot_input.wgsl): each unit also adds
// x's correction for the block times the weight block's offset, as llama.cpp's q8_1 dot
// products multiply the offset by the block's f16 sum.
#include "include/enables.wgsl"
#include "include/rounding.wgsl"
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

// Output rows and columns a workgroup computes: 32 or 64 (the 16 KiB of workgroup memory every
// adapter has holds 64 x 32 values of X and of W).
override TILE: u32 = 32u;
// The staged unit, k-major: four rows at one k are one vec4, at [k * TILE / 4 + row / 4]. The
// product reads an invocation's four (main_8x8: eight) rows at a k in one 16-byte load, and the
// invocations of a subgroup read neighbouring vec4s, in different banks. (Row-major, [row][k],
// put rows 32 words apart: the four loads were scalar, and every column a subgroup read at one
// k sat in the same bank.)
// STAGE_F16 (F16 weights, x rounded to f16: every staged value is an f16 exactly): the tiles
// hold f16s, half the workgroup memory and half the bytes a staged read, each read widened to
// f32 for the multiply-adds, whose sums stay f32.
#if STAGE_F16
alias staged = f16;
#else
alias staged = f32;
#endif
var<workgroup> xs: array<vec4<staged>, 8u * TILE>; // X: [k][row of X / 4]
var<workgroup> ws: array<vec4<staged>, 8u * TILE>; // W: [k][row of W / 4]

// Staged value k of row r.
fn put_x(r: u32, k: u32, v: f32) {
  xs[k * (TILE / 4u) + r / 4u][r % 4u] = staged(v);
}
fn put_w(r: u32, k: u32, v: f32) {
  ws[k * (TILE / 4u) + r / 4u][r % 4u] = staged(v);
}

// Four staged values, as f32.
fn x4_at(i: u32) -> vec4<f32> {
  return vec4<f32>(xs[i]);
}
fn w4_at(i: u32) -> vec4<f32> {
  return vec4<f32>(ws[i]);
}

#if Q8_1_SUMS
@group(0) @binding(4) var<storage, read> corrections: array<f32>; // (m, k / 32)
var<workgroup> xc: array<f32, TILE>; // [row of X]: this unit's correction
var<workgroup> wo: array<f32, TILE>; // [row of W]: this unit's block offset

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

@compute @workgroup_size(TILE / 4u, TILE / 4u)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let n0 = wg.x * TILE;
  let m0 = wg.y * TILE;
  let units = (params.k + UNIT_VALUES - 1u) / UNIT_VALUES;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  // Staging roles: invocation t stages `per` values of a unit (16 at TILE 32, 8 at 64) of row
  // r, of X and of W.
  let per = 512u / TILE;
  let r = t / (UNIT_VALUES / per);
  let start = per * (t % (UNIT_VALUES / per));
  let xm = m0 + r;
  let wn = n0 + r;
  let row = 4u * lid.y;
  let col = 4u * lid.x;
  var iscale = 0.0;
  for (var u = 0u; u < units; u++) {
    let k0 = u * UNIT_VALUES;
#if ROUND_Q8_K
    if (u % 8u == 0u) {
      iscale = q8k_iscale(xm, k0);
    }
#endif
    stage_x(r, xm, k0, start, per, iscale);
    if (w_whole_unit(wn, k0)) {
      let unit = unit_at(wn * params.row_bytes, u);
      for (var i = start / 4u; i < (start + per) / 4u; i++) {
        stage4(r, 4u * i, unit_w4(unit, i));
      }
    } else {
      stage_w_values(r, wn, k0, start, per);
    }
#if Q8_1_SUMS
    if (start == 0u) {
      stage_sums(r, xm, wn, u);
    }
#endif
    workgroupBarrier();
    for (var k = 0u; k < UNIT_VALUES; k++) {
      // Rows row .. row + 3 of X and columns col .. col + 3 (row = 4 lid.y, col = 4 lid.x).
      let a = x4_at(k * (TILE / 4u) + lid.y);
      let b = w4_at(k * (TILE / 4u) + lid.x);
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

// The iscale of the q8_k block of row xm of X at k0 (a multiple of 256): 127 / its largest
// |x|, 0 for a block of zeros, as matvec.wgsl's stage_q8_k finds it.
fn q8k_iscale(xm: u32, k0: u32) -> f32 {
  var amax = 0.0;
  for (var j = 0u; j < 256u; j++) {
    amax = max(amax, abs(x_value(xm, k0 + j)));
  }
  return int8_iscale(amax);
}

// Values k0 + start .. k0 + start + count - 1 of row xm of X as row r (zeros past the matrix),
// rounded as the weights' dot products take them (ROUND_*; `iscale`: the q8_k block's).
fn stage_x(r: u32, xm: u32, k0: u32, start: u32, count: u32, iscale: f32) {
#if ROUND_Q8
  var amax = 0.0;
  for (var j = 0u; j < UNIT_VALUES; j++) {
    amax = max(amax, abs(x_value(xm, k0 + j)));
  }
  let s = q8_0_scales(amax);
#endif
  for (var j = 0u; j < count; j++) {
    var v = x_value(xm, k0 + start + j);
#if ROUND_Q8
    v = s.x * round(v * s.y);
#endif
#if ROUND_Q8_K
    v = int8_d(iscale) * min(127.0, round(iscale * v));
#endif
#if ROUND_F16
    v = nearest_f16(v);
#endif
#if ROUND_BF16
    v = nearest_bf16(v);
#endif
    put_x(r, start + j, v);
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

// Values k0 + start .. of weight row wn as row r, one at a time, zeros past the matrix.
fn stage_w_values(r: u32, wn: u32, k0: u32, start: u32, count: u32) {
  for (var j = 0u; j < count; j++) {
    put_w(r, start + j, w_value(wn, k0 + start + j));
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

@compute @workgroup_size(TILE / 8u, TILE / 8u)
fn main_8x8(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
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
  // The q8_k iscales of this invocation's rows of X (ROUND_Q8_K).
  var iscales = array<f32, 2>(0.0, 0.0);
  for (var u = 0u; u < units; u++) {
    let k0 = u * UNIT_VALUES;
    // TILE rows of X and of W over (TILE / 8)² invocations: two each at 32, one at 64.
    for (var r = t; r < TILE; r += (TILE / 8u) * (TILE / 8u)) {
      let i = r / ((TILE / 8u) * (TILE / 8u));
#if ROUND_Q8_K
      if (u % 8u == 0u) {
        iscales[i] = q8k_iscale(m0 + r, k0);
      }
#endif
      stage_x(r, m0 + r, k0, 0u, 32u, iscales[i]);
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
    for (var k = 0u; k < UNIT_VALUES; k++) {
      // Columns col .. col + 7 and rows row .. row + 7 (col = 8 lid.x, row = 8 lid.y).
      let at = k * (TILE / 4u);
      let b = w4_at(at + 2u * lid.x);
      let d = w4_at(at + 2u * lid.x + 1u);
      let xa = x4_at(at + 2u * lid.y);
      let xb = x4_at(at + 2u * lid.y + 1u);
      a0 += xa.x * b; c0 += xa.x * d;
      a1 += xa.y * b; c1 += xa.y * d;
      a2 += xa.z * b; c2 += xa.z * d;
      a3 += xa.w * b; c3 += xa.w * d;
      a4 += xb.x * b; c4 += xb.x * d;
      a5 += xb.y * b; c5 += xb.y * d;
      a6 += xb.z * b; c6 += xb.z * d;
      a7 += xb.w * b; c7 += xb.w * d;
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

// A unit's 32 dequantized values as row r of W.
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

// Values at .. at + 3 of row r of W.
fn stage4(r: u32, at: u32, v: vec4<f32>) {
  put_w(r, at, v.x);
  put_w(r, at + 1u, v.y);
  put_w(r, at + 2u, v.z);
  put_w(r, at + 3u, v.w);
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

#if INT_DOT
// Row r's staged unit: its integers at [r] (values 0..15) and [TILE + r] (16..31) and, for X,
// (d, the sum of each half's integers, 0), for W (each half's scale, each half's offset). An
// invocation's four columns are TILE / 4 apart, so the lanes of a subgroup read neighbouring
// rows of W at once (16-byte reads of consecutive vec4s, not rows 4 vec4s apart).
var<workgroup> xq: array<vec4<u32>, 2u * TILE>;
var<workgroup> xd: array<vec4<f32>, TILE>;
var<workgroup> wq: array<vec4<u32>, 2u * TILE>;
var<workgroup> wd: array<vec4<f32>, TILE>;

// Values k0 .. k0 + 31 of row xm of X rounded to 8 bits as integers (zeros past the matrix),
// as row r; `iscale`: the q8_k block's.
fn stage_x_ints(r: u32, xm: u32, k0: u32, iscale: f32) {
  var v: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i++) {
    let at = k0 + 4u * i;
    v[i] = vec4<f32>(x_value(xm, at), x_value(xm, at + 1u), x_value(xm, at + 2u), x_value(xm, at + 3u));
  }
#if ROUND_Q8
  let s = q8_0_ints_scales(v);
  let xi = x_ints_of(v, s.y, s.x);
#else
  let xi = x_ints_of(v, iscale, int8_d(iscale));
#endif
  xq[r] = ints_lo(xi.q);
  xq[TILE + r] = ints_hi(xi.q);
  xd[r] = vec4<f32>(xi.d, xi.sums, 0.0);
}

// Unit u of weight row wn as row r (zeros past the matrix).
fn stage_w_ints(r: u32, wn: u32, u: u32) {
  var lo = vec4<u32>(0u);
  var hi = vec4<u32>(0u);
  var sd = vec4<f32>(0.0);
  if (wn < params.n) {
    let unit = unit_ints(wn * params.row_bytes, u);
    lo = ints_lo(unit.q);
    hi = ints_hi(unit.q);
    sd = vec4<f32>(unit.scale, unit.offset);
  }
  wq[r] = lo;
  wq[TILE + r] = hi;
  wd[r] = sd;
}

// A staged row of W: its integers' halves and its scales and offsets.
struct WRow {
  lo: vec4<u32>,
  hi: vec4<u32>,
  sd: vec4<f32>,
}

fn w_row(r: u32) -> WRow {
  return WRow(wq[r], wq[TILE + r], wd[r]);
}

// Staged row a of X's unit times four staged rows of W.
fn x_row_dot4(a: u32, w0: WRow, w1: WRow, w2: WRow, w3: WRow) -> vec4<f32> {
  let xl = xq[a];
  let xh = xq[TILE + a];
  let xs = xd[a];
  return vec4<f32>(unit_dot(xl, xh, xs, w0), unit_dot(xl, xh, xs, w1), unit_dot(xl, xh, xs, w2),
    unit_dot(xl, xh, xs, w3));
}

fn unit_dot(xl: vec4<u32>, xh: vec4<u32>, xs: vec4<f32>, w: WRow) -> f32 {
  return ints_dot(xl, xh, xs.x, xs.yz, w.lo, w.hi, w.sd.xy, w.sd.zw);
}

@compute @workgroup_size(TILE / 4u, TILE / 4u)
fn main_idot(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let n0 = wg.x * TILE;
  let m0 = wg.y * TILE;
  let units = params.k / UNIT_VALUES;
  // Rows row .. row + 3 of X, columns lid.x + j * TILE / 4 of W (j < 4): acc_i[j].
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  let row = 4u * lid.y;
  let step = TILE / 4u;
  // Staging roles: invocations 0 .. TILE - 1 stage a row of X each, the next TILE a row of W.
  var iscale = 0.0;
  for (var u = 0u; u < units; u++) {
    let k0 = u * UNIT_VALUES;
    if (t < TILE) {
#if ROUND_Q8_K
      if (u % 8u == 0u) {
        iscale = q8k_iscale(m0 + t, k0);
      }
#endif
      stage_x_ints(t, m0 + t, k0, iscale);
    } else if (t < 2u * TILE) {
      stage_w_ints(t - TILE, n0 + t - TILE, u);
    }
    workgroupBarrier();
    let w0 = w_row(lid.x);
    let w1 = w_row(lid.x + step);
    let w2 = w_row(lid.x + 2u * step);
    let w3 = w_row(lid.x + 3u * step);
    acc0 += x_row_dot4(row, w0, w1, w2, w3);
    acc1 += x_row_dot4(row + 1u, w0, w1, w2, w3);
    acc2 += x_row_dot4(row + 2u, w0, w1, w2, w3);
    acc3 += x_row_dot4(row + 3u, w0, w1, w2, w3);
    workgroupBarrier();
  }
  store_spread(m0 + row, n0 + lid.x, acc0);
  store_spread(m0 + row + 1u, n0 + lid.x, acc1);
  store_spread(m0 + row + 2u, n0 + lid.x, acc2);
  store_spread(m0 + row + 3u, n0 + lid.x, acc3);
}

// Output row m at columns n, n + TILE / 4, n + TILE / 2, n + 3 TILE / 4 (those inside).
fn store_spread(m: u32, n: u32, v: vec4<f32>) {
  if (m >= params.m) {
    return;
  }
  let base = m * params.out_stride + params.col_offset;
  for (var j = 0u; j < 4u; j++) {
    let c = n + j * (TILE / 4u);
    if (c < params.n) {
      out[base + c] = act(v[j]);
    }
  }
}
#endif
