// Matrix-vector product for decode, for a batch of M ≤ 16 vectors (sub-agents decoding at once):
// out[m] = W · x[m]. Each pair of rows belongs to a group of T invocations that stride over it
// in 32-value units, dequantizing in registers and loading each x value once for both rows; a
// workgroup holds 2 * WG / T rows, and every weight is read once for all M vectors.
//   SUBGROUPS: T is the subgroup size, so a row's sum is one subgroupAdd and no barrier, or a
//            few subgroups (more loads in flight on a GPU), their sums met after one barrier.
//   otherwise: partial sums meet in workgroup memory after a single barrier.
// Fused variants:
//   BIAS:    out = W · x + bias                  (Qwen2's q/k/v projections)
//   RESIDUAL: out[m] = W · x[m] + residual[m]    (a projection back into the residual stream:
//            the attention output's and the feed-forward's, the add in the same pass)
//   GATE_UP: out = silu(Wg · x) * (Wu · x)       (the SwiGLU feed-forward gate; GELU: GeGLU's
//            gelu, as gelu_ggml), with Wu's rows
//            `up_offset` bytes after Wg's in the same binding: one pass, no intermediate; a
//            group's two rows are a gate row and its up row (WG / T outputs a workgroup).
//   QKV:     W is Wq, Wk, Wv back to back: q and k come out rotated (RoPE, by the angles of
//            `rope`, one row of them per batch entry) into out and out_k, v into out_v. A
//            group's two rows are a rotary pair (adjacent, or NeoX's i and i + rope_dims / 2).
// The input as llama.cpp rounds it for the weights (ROUND_Q8: blocks of 32 to 8 bits and an
// f16 scale; ROUND_F16, ROUND_BF16: each value), as each unit of x is loaded: no pass of its own.
// W_VEC4: the weights bound as vec4s and read 16 bytes a load where blocks and rows are
// 16-byte aligned (Q4_K, Q5_K, float rows of whole 16 bytes).
// Q8_1_SUMS (Q4_1, Q5_1 weights, q8_1 input): each block's offset meets the input block's f16
// sum, as llama.cpp's dot products have it, not the rounded values' exact sum.
// ROUND_Q8_K (K-quant weights): 256-value blocks, each scaled by its value of largest magnitude,
// span eight units; the workgroup finds every block's scale first (stage_q8_k), into workgroup
// memory, and each unit is then rounded as it is loaded.
// INT_DOT (with ROUND_Q8 or ROUND_Q8_K): x's units rounded to 8-bit integers and the weights
// decoded to theirs (unit_ints), products by dot4I8Packed, scaled once per unit half.
// X_STAGED (with INT_DOT): the workgroup rounds x once into workgroup memory (stage_x, XS_UNITS
// units of each row at a time: rows longer than that take several rounds, a barrier on either
// side of each), and every lane group reads its units from there: without it each lane group
// rounds every unit it meets, about as many operations as its two rows' products.
// x (M, cols) act, W (rows, cols) in any format of include/weights.wgsl -> out (M, out_stride)
#include "include/enables.wgsl"
#include "include/reduce.wgsl"
#include "include/rounding.wgsl"
#include "include/weights.wgsl"

struct Params {
  rows: u32, // output rows in this dispatch
  cols: u32, // values per row = input length
  row_bytes: u32, // bytes per weight row
  row_offset: u32, // the first output row of this dispatch (w is bound from that row on)
  out_stride: u32, // elements between the outputs of consecutive batch entries
  up_offset: u32, // GATE_UP: bytes from a gate row to its up row
  q_rows: u32, // QKV: rows of Wq (then kv_rows of Wk, kv_rows of Wv)
  kv_rows: u32,
  head_dim: u32, // QKV: values per head
  rope_dims: u32, // QKV: rotated values per head (even, ≤ head_dim)
  neox: u32, // QKV: 1: NeoX pairs, 0: adjacent pairs
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
#if W_VEC4
@group(0) @binding(1) var<storage, read> w4: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> w: array<u32>;
#endif
#if X_VEC4
// Rows of whole 32-value units: x read four values a load.
@group(0) @binding(2) var<storage, read> x: array<vec4<act>>;
#else
@group(0) @binding(2) var<storage, read> x: array<act>;
#endif
@group(0) @binding(3) var<storage, read_write> out: array<act>;
#if QKV
@group(0) @binding(4) var<storage, read_write> out_k: array<act>; // (M, kv_rows)
@group(0) @binding(5) var<storage, read_write> out_v: array<act>; // (M, kv_rows)
@group(0) @binding(6) var<storage, read> rope: array<vec2f>; // (M, rope_dims / 2): cos, sin
#if BIAS
@group(0) @binding(7) var<storage, read> bias: array<f32>; // (all rows,)
#endif
#else
#if BIAS
@group(0) @binding(4) var<storage, read> bias: array<f32>; // (all rows,)
#endif
#endif
#if RESIDUAL
@group(0) @binding(4) var<storage, read> residual: array<act>; // (M, out_stride), like out
#endif

// Batch size; the accumulators are sized for the largest. Entries 0..7 are written out one by
// one below (a loop costs more on a CPU device), those past them (a GPU's batches) in a loop.
override M: u32 = 1u;
const MAX_M: u32 = 16u;
// Invocations per lane group (its two rows): a power of two dividing WG; with SUBGROUPS a
// multiple of the subgroup size SG, each subgroup's sums met in workgroup memory when T > SG.
override T: u32 = 32u;
override SG: u32 = 32u;
// Dot products reduced per batch entry: two rows (or a gate row and its up row).
const PARTS: u32 = 2u;

// x[b .. b + 3] (b a multiple of 4)
fn x4(b: u32) -> vec4<f32> {
#if X_VEC4
  return vec4<f32>(x[b >> 2u]);
#else
  return vec4<f32>(f32(x[b]), f32(x[b + 1u]), f32(x[b + 2u]), f32(x[b + 3u]));
#endif
}

// x[at .. at + 31] as the dot product with the weights wants it: rounded, and for q8_1 what its
// sum adds (q8_1_correction).
struct XUnit {
  v: array<vec4<f32>, 8>,
  correction: f32,
}

fn x_unit(at: u32) -> XUnit {
  var v = array<vec4<f32>, 8>(
    x4(at), x4(at + 4u), x4(at + 8u), x4(at + 12u),
    x4(at + 16u), x4(at + 20u), x4(at + 24u), x4(at + 28u),
  );
  var correction = 0.0;
#if ROUND_Q8
  let amax = amax8(v);
  let s = q8_0_scales(amax);
  var qsum = vec4<f32>(0.0);
  for (var i = 0u; i < 8u; i++) {
    let q = round(v[i] * s.y);
    qsum += q;
    v[i] = s.x * q;
  }
#if Q8_1_SUMS
  correction = q8_1_correction(amax, dot(qsum, vec4<f32>(1.0)));
#endif
#endif
#if ROUND_Q8_K
  // As dot_input.wgsl's dot_q8_k, with the block's iscale from stage_q8_k (rows are whole
  // blocks, so block at / 256 of all M rows of x).
  let iscale = partials[WG + at / 256u];
  let d = int8_d(iscale);
  for (var i = 0u; i < 8u; i++) {
    v[i] = d * min(vec4<f32>(127.0), round(iscale * v[i]));
  }
#endif
#if ROUND_F16
  for (var i = 0u; i < 8u; i++) {
    v[i] = vec4<f32>(nearest_f16(v[i].x), nearest_f16(v[i].y), nearest_f16(v[i].z), nearest_f16(v[i].w));
  }
#endif
#if ROUND_BF16
  for (var i = 0u; i < 8u; i++) {
    v[i] = vec4<f32>(nearest_bf16(v[i].x), nearest_bf16(v[i].y), nearest_bf16(v[i].z), nearest_bf16(v[i].w));
  }
#endif
  return XUnit(v, correction);
}

#if INT_DOT
// x[at .. at + 31] rounded to 8 bits as integers (ROUND_Q8: q8_0; ROUND_Q8_K: with its block's
// iscale from stage_q8_k).
fn x_ints(at: u32) -> XInts {
  let v = array<vec4<f32>, 8>(
    x4(at), x4(at + 4u), x4(at + 8u), x4(at + 12u),
    x4(at + 16u), x4(at + 20u), x4(at + 24u), x4(at + 28u),
  );
#if ROUND_Q8
  let s = q8_0_ints_scales(v);
  return x_ints_of(v, s.y, s.x);
#else
  let iscale = partials[WG + at / 256u];
  return x_ints_of(v, iscale, int8_d(iscale));
#endif
}

// One row's unit times x's, by ints_dot.
fn int_dot(wu: UnitInts, xi: XInts) -> f32 {
  let x = xi.q;
  let w = wu.q;
  return ints_dot(ints_lo(x), ints_hi(x), xi.d, xi.sums, ints_lo(w), ints_hi(w), wu.scale, wu.offset);
}

fn int_dot2(sum: vec2<f32>, a: UnitInts, b: UnitInts, xi: XInts) -> vec2<f32> {
  return sum + vec2<f32>(int_dot(a, xi), int_dot(b, xi));
}

#if X_STAGED
// Units of each row of x staged at a time (the row's all, where they fit the workgroup memory).
override XS_UNITS: u32 = 128u;
// Unit c0 + u of row m of x at m * XS_UNITS + u: its integers (two vec4s), and d with the sums.
var<workgroup> xs_q: array<vec4<u32>, 2u * XS_UNITS * M>;
var<workgroup> xs_d: array<vec4<f32>, XS_UNITS * M>;

// Units c0 .. c0 + XS_UNITS - 1 of every row of x rounded once, by the whole workgroup.
fn stage_x(lid: u32, c0: u32) {
  let units = params.cols / UNIT_VALUES;
  for (var i = lid; i < M * XS_UNITS; i += WG) {
    let m = i / XS_UNITS;
    let u = c0 + i % XS_UNITS;
    if (u < units) {
      let xi = x_ints(m * params.cols + u * UNIT_VALUES);
      xs_q[2u * i] = ints_lo(xi.q);
      xs_q[2u * i + 1u] = ints_hi(xi.q);
      xs_d[i] = vec4<f32>(xi.d, xi.sums, 0.0);
    }
  }
  workgroupBarrier();
}

// Unit c0 + u of row m of x, as stage_x left it.
fn staged_x(m: u32, u: u32) -> XInts {
  let at = m * XS_UNITS + u;
  let lo = xs_q[2u * at];
  let hi = xs_q[2u * at + 1u];
  let d = xs_d[at];
  return XInts(array<u32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w), d.x, d.yz);
}

// `acc_in` plus this invocation's share of the two rows' products with the staged units c0 ...
fn two_rows_staged(acc_in: array<vec2<f32>, MAX_M>, a_byte: u32, b_byte: u32, lane: u32, c0: u32)
    -> array<vec2<f32>, MAX_M> {
  var acc = acc_in;
  let end = min(XS_UNITS, params.cols / UNIT_VALUES - c0);
  for (var s = lane; s < end; s += T) {
    let ua = unit_ints(a_byte, c0 + s);
    let ub = unit_ints(b_byte, c0 + s);
    // A GPU's path (software adapters keep the float products): a loop its compiler unrolls.
    for (var m = 0u; m < M; m++) {
      acc[m] = int_dot2(acc[m], ua, ub, staged_x(m, s));
    }
  }
  return acc;
}
#endif
#endif

#if DENSE
// One x value past the last whole unit (dense rows), rounded like the rest.
fn x_one(at: u32) -> f32 {
#if ROUND_F16
  return nearest_f16(f32(x[at]));
#else
#if ROUND_BF16
  return nearest_bf16(f32(x[at]));
#else
  return f32(x[at]);
#endif
#endif
}
#endif

// `sum` plus the dot products of two rows' units with the 32 x values of `xu`, each x value
// used for both, added in order (each row's sum stays what it was with a loop), written out (a
// loop costs more on a CPU device). `offsets`: the rows' block offsets (Q8_1_SUMS).
fn unit_dot2(sum: vec2<f32>, a: Unit32, b: Unit32, offsets: vec2<f32>, xu: XUnit) -> vec2<f32> {
  let xv = xu.v;
#if Q8_1_SUMS
  var s = sum + offsets * xu.correction + vec2<f32>(dot(a.w0, xv[0]), dot(b.w0, xv[0]));
#else
  var s = sum + vec2<f32>(dot(a.w0, xv[0]), dot(b.w0, xv[0]));
#endif
  s += vec2<f32>(dot(a.w1, xv[1]), dot(b.w1, xv[1]));
  s += vec2<f32>(dot(a.w2, xv[2]), dot(b.w2, xv[2]));
  s += vec2<f32>(dot(a.w3, xv[3]), dot(b.w3, xv[3]));
  s += vec2<f32>(dot(a.w4, xv[4]), dot(b.w4, xv[4]));
  s += vec2<f32>(dot(a.w5, xv[5]), dot(b.w5, xv[5]));
  s += vec2<f32>(dot(a.w6, xv[6]), dot(b.w6, xv[6]));
  return s + vec2<f32>(dot(a.w7, xv[7]), dot(b.w7, xv[7]));
}

// This invocation's share of the dot products of the rows at `a_byte` and `b_byte` (two rows
// of the matrix, or a gate row and its up row) with every x[m]: [m] = (a, b). Two rows a pass
// load each x value once for both; on a CPU device (SwiftShader) the loads cost more than the
// arithmetic.
fn two_rows_dot(a_byte: u32, b_byte: u32, lane: u32) -> array<vec2<f32>, MAX_M> {
  var acc: array<vec2<f32>, MAX_M>;
  let units = params.cols / UNIT_VALUES;
#if INT_DOT
  for (var u = lane; u < units; u += T) {
    let ua = unit_ints(a_byte, u);
    let ub = unit_ints(b_byte, u);
    let k = u * UNIT_VALUES;
    acc[0] = int_dot2(acc[0], ua, ub, x_ints(k));
    if (M > 1u) { acc[1] = int_dot2(acc[1], ua, ub, x_ints(params.cols + k)); }
    if (M > 2u) { acc[2] = int_dot2(acc[2], ua, ub, x_ints(2u * params.cols + k)); }
    if (M > 3u) { acc[3] = int_dot2(acc[3], ua, ub, x_ints(3u * params.cols + k)); }
    if (M > 4u) { acc[4] = int_dot2(acc[4], ua, ub, x_ints(4u * params.cols + k)); }
    if (M > 5u) { acc[5] = int_dot2(acc[5], ua, ub, x_ints(5u * params.cols + k)); }
    if (M > 6u) { acc[6] = int_dot2(acc[6], ua, ub, x_ints(6u * params.cols + k)); }
    if (M > 7u) { acc[7] = int_dot2(acc[7], ua, ub, x_ints(7u * params.cols + k)); }
    for (var m = 8u; m < M; m++) { acc[m] = int_dot2(acc[m], ua, ub, x_ints(m * params.cols + k)); }
  }
#else
  for (var u = lane; u < units; u += T) {
    let ua = unit_weights(a_byte, u);
    let ub = unit_weights(b_byte, u);
#if Q8_1_SUMS
    let offsets = vec2<f32>(unit_offset(a_byte, u), unit_offset(b_byte, u));
#else
    let offsets = vec2<f32>(0.0);
#endif
    let k = u * UNIT_VALUES;
    acc[0] = unit_dot2(acc[0], ua, ub, offsets, x_unit(k));
    if (M > 1u) { acc[1] = unit_dot2(acc[1], ua, ub, offsets, x_unit(params.cols + k)); }
    if (M > 2u) { acc[2] = unit_dot2(acc[2], ua, ub, offsets, x_unit(2u * params.cols + k)); }
    if (M > 3u) { acc[3] = unit_dot2(acc[3], ua, ub, offsets, x_unit(3u * params.cols + k)); }
    if (M > 4u) { acc[4] = unit_dot2(acc[4], ua, ub, offsets, x_unit(4u * params.cols + k)); }
    if (M > 5u) { acc[5] = unit_dot2(acc[5], ua, ub, offsets, x_unit(5u * params.cols + k)); }
    if (M > 6u) { acc[6] = unit_dot2(acc[6], ua, ub, offsets, x_unit(6u * params.cols + k)); }
    if (M > 7u) { acc[7] = unit_dot2(acc[7], ua, ub, offsets, x_unit(7u * params.cols + k)); }
    for (var m = 8u; m < M; m++) { acc[m] = unit_dot2(acc[m], ua, ub, offsets, x_unit(m * params.cols + k)); }
  }
#endif
#if DENSE
  for (var j = units * UNIT_VALUES + lane; j < params.cols; j += T) {
    // Float rows need not be whole units: the tail, one value per invocation.
    let wa = dense_weight(a_byte, j);
    let wb = dense_weight(b_byte, j);
    for (var m = 0u; m < M; m++) {
      let xj = x_one(m * params.cols + j);
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
#if GELU
  var value = gelu_ggml(g) * dots.y;
#else
  var value = g / (1.0 + exp(-g)) * dots.y;
#endif
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

// The workgroup reduction's partial sums (without subgroups), and for ROUND_Q8_K first the
// block scales: the largest magnitude of each 32-value part at [0, WG), then each block's
// iscale at WG + block (block b of row m of x at m * cols / 256 + b).
// With SUBGROUPS, each subgroup's sums at row_parts[(group * M + m) * (T / SG) + subgroup].
const Q8_K_MAX_BLOCKS: u32 = 128u; // per row of x: cols ≤ 32768
#if SUBGROUPS
#if ROUND_Q8_K
var<workgroup> partials: array<f32, WG + Q8_K_MAX_BLOCKS * M>;
#endif
var<workgroup> row_parts: array<vec2<f32>, (WG / SG) * M>;
#else
#if ROUND_Q8_K
var<workgroup> partials: array<f32, max(WG * M * PARTS, WG + Q8_K_MAX_BLOCKS * M)>;
#else
var<workgroup> partials: array<f32, WG * M * PARTS>;
#endif
#endif

#if ROUND_Q8_K
// Each 256-value block's iscale = 127 / amax (0 for a block of zeros) into partials[WG + block]:
// eight invocations a block, 32 values each, then the first of each eight takes the largest of
// their eight. quantize_row_q8_K scales by -127 / m, m the value of largest magnitude: the other
// sign turns every q and d alike (rounding is symmetric, no value passes 127), so d * q is the
// same.
fn stage_q8_k(lid: u32) {
  let blocks = params.cols / 256u;
  let total = M * blocks;
  for (var first = 0u; first < total; first += WG / 8u) {
    let b = first + lid / 8u;
    var amax = 0.0;
    if (b < total) {
      let start = (b / blocks) * params.cols + (b % blocks) * 256u + (lid % 8u) * 32u;
      for (var j = 0u; j < 32u; j += 4u) {
        let a = abs(x4(start + j));
        amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
      }
    }
    partials[lid] = amax;
    workgroupBarrier();
    if (b < total && lid % 8u == 0u) {
      for (var p = 1u; p < 8u; p++) {
        amax = max(amax, partials[lid + p]);
      }
      partials[WG + b] = int8_iscale(amax);
    }
    workgroupBarrier();
  }
}
#endif

@compute @workgroup_size(WG)
fn main(inv: Invocation) {
#if ROUND_Q8_K
  stage_q8_k(inv.lid);
#endif
  let group = inv.lid / T;
  let lane = inv.lid % T;
#if GATE_UP
  // A gate row and its up row.
  let row = flat_workgroup(inv) * (WG / T) + group;
  let second = row;
#else
#if QKV
  // A rotary pair (rows past the end: past q, k and v, so they write nothing).
  let pair = flat_workgroup(inv) * (WG / T) + group;
  let rows2 = select(vec2<u32>(params.rows), pair_rows(pair), 2u * pair < params.rows);
  let row = rows2.x;
  let second = rows2.y;
#else
  // Two neighbouring rows (the second may be past the end: then it repeats the first).
  let row = 2u * (flat_workgroup(inv) * (WG / T) + group);
  let second = row + 1u;
#endif
#endif
  // acc[m]: (the row, the second) — (gate, up) for GATE_UP.
  var acc: array<vec2<f32>, MAX_M>;
  let a_byte = row * params.row_bytes;
#if GATE_UP
  let b_byte = params.up_offset + a_byte;
#else
  let b_byte = select(a_byte, second * params.row_bytes, second < params.rows);
#endif
  // Rows past the end still reach the reduction below (and the barriers); they just write
  // nothing.
#if X_STAGED
  for (var c0 = 0u; c0 < params.cols / UNIT_VALUES; c0 += XS_UNITS) {
    if (c0 > 0u) {
      workgroupBarrier(); // every lane group is done with the units staged before
    }
    stage_x(inv.lid, c0);
    if (row < params.rows) {
      acc = two_rows_staged(acc, a_byte, b_byte, lane, c0);
    }
  }
#else
  if (row < params.rows) {
    acc = two_rows_dot(a_byte, b_byte, lane);
  }
#endif
#if SUBGROUPS
  for (var m = 0u; m < M; m++) {
    let dots = vec2<f32>(subgroupAdd(acc[m].x), subgroupAdd(acc[m].y));
    if (T == SG) {
      if (row < params.rows && lane == 0u) {
        write(m, row, second, dots);
      }
    } else if (lane % SG == 0u) {
      row_parts[(group * M + m) * (T / SG) + lane / SG] = dots;
    }
  }
  if (T > SG) {
    // Several subgroups a lane group: their sums meet after one barrier.
    workgroupBarrier();
    if (row < params.rows && lane == 0u) {
      for (var m = 0u; m < M; m++) {
        var dots = vec2<f32>(0.0);
        for (var p = 0u; p < T / SG; p++) {
          dots += row_parts[(group * M + m) * (T / SG) + p];
        }
        write(m, row, second, dots);
      }
    }
  }
#else
#if ROUND_Q8_K
  workgroupBarrier(); // every invocation is done with the block scales
#endif
  for (var p = 0u; p < PARTS; p++) {
    for (var m = 0u; m < M; m++) {
      partials[(p * M + m) * WG + inv.lid] = acc[m][p];
    }
  }
  workgroupBarrier();
  if (row < params.rows && lane == 0u) {
    for (var m = 0u; m < M; m++) {
      var dots = vec2<f32>(0.0);
      for (var p = 0u; p < PARTS; p++) {
        for (var i = 0u; i < T; i++) {
          dots[p] += partials[(p * M + m) * WG + inv.lid + i];
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
#if QKV
  write_qkv(m, row, second, dots);
#else
  finish(m, row, vec2<f32>(dots.x, 0.0));
  if (second < params.rows) {
    finish(m, second, vec2<f32>(dots.y, 0.0));
  }
#endif
#endif
}

#if QKV
// The rows of rotary pair p: every head holds head_dim / 2 pairs; NeoX pairs value i with
// i + rope_dims / 2 and then the unrotated rest two by two, adjacent pairs are (2i, 2i + 1).
// V's rows (past q and k) pair up in order.
fn pair_rows(p: u32) -> vec2<u32> {
  let half_head = params.head_dim / 2u;
  let base = (p / half_head) * params.head_dim;
  let j = p % half_head;
  let rope_half = params.rope_dims / 2u;
  if (params.neox == 1u && base < params.q_rows + params.kv_rows) {
    if (j < rope_half) {
      return vec2<u32>(base + j, base + j + rope_half);
    }
    let first = base + params.rope_dims + 2u * (j - rope_half);
    return vec2<u32>(first, first + 1u);
  }
  return vec2<u32>(base + 2u * j, base + 2u * j + 1u);
}

// q and k rows turned by their pair's angle (as rope.wgsl turns them), then each row to its
// output: q's, k's or v's.
fn write_qkv(m: u32, row: u32, second: u32, dots: vec2<f32>) {
  var a = dots.x;
  var b = dots.y;
#if BIAS
  a += bias[row];
  b += bias[second];
#endif
  let qk = params.q_rows + params.kv_rows;
  let j = row % params.head_dim;
  let rope_half = params.rope_dims / 2u;
  if (row < qk && select(j < params.rope_dims, j < rope_half, params.neox == 1u)) {
    let cs = rope[m * rope_half + select(j / 2u, j, params.neox == 1u)];
    let x0 = a;
    a = x0 * cs.x - b * cs.y;
    b = x0 * cs.y + b * cs.x;
  }
  store_qkv(m, row, a);
  store_qkv(m, second, b);
}

fn store_qkv(m: u32, row: u32, value: f32) {
  let qk = params.q_rows + params.kv_rows;
  if (row < params.q_rows) {
    out[m * params.q_rows + row] = act(value);
  } else if (row < qk) {
    out_k[m * params.kv_rows + row - params.q_rows] = act(value);
  } else {
    out_v[m * params.kv_rows + row - qk] = act(value);
  }
}
#endif
