// Matrix multiply for prefill: out = X · Wᵀ, weights in any format of include/weights.wgsl.
// X (M, K) act, W (N, K) rows `row_bytes` apart -> out (M, out_stride) at column col_offset + n.
// A workgroup of 16 x 16 invocations computes a 32 x 32 output tile, 2 x 2 per invocation,
// stepping over K in 32-value units: each step stages 32 rows of X and 32 dequantized rows of
// W in workgroup memory (8 KiB), so every weight is decoded once per tile, not once per output.
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

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let n0 = wg.x * TILE;
  let m0 = wg.y * TILE;
  let units = (params.k + UNIT_VALUES - 1u) / UNIT_VALUES;
  var acc: array<vec2<f32>, 2>;
  // Staging roles: invocation t loads 4 values of row t / 8 at 4 * (t % 8), of X and of W.
  let r = t / 8u;
  let c = 4u * (t % 8u);
  for (var u = 0u; u < units; u++) {
    let k0 = u * UNIT_VALUES;
    var xv = vec4<f32>(0.0);
    let xm = m0 + r;
    if (xm < params.m) {
      for (var j = 0u; j < 4u; j++) {
        if (k0 + c + j < params.k) {
          xv[j] = f32(x[xm * params.k + k0 + c + j]);
        }
      }
    }
    xs[r][c] = xv.x;
    xs[r][c + 1u] = xv.y;
    xs[r][c + 2u] = xv.z;
    xs[r][c + 3u] = xv.w;
    var wv = vec4<f32>(0.0);
    let wn = n0 + r;
    if (wn < params.n) {
      let row_byte = wn * params.row_bytes;
#if DENSE
      if (k0 + UNIT_VALUES > params.k) {
        // The last, partial unit of a float row: value by value, nothing past the row.
        for (var j = 0u; j < 4u; j++) {
          if (k0 + c + j < params.k) {
            wv[j] = dense_weight(row_byte, k0 + c + j);
          }
        }
      } else {
        wv = unit_w4(unit_at(row_byte, u), c / 4u);
      }
#else
      wv = unit_w4(unit_at(row_byte, u), c / 4u);
#endif
    }
    ws[r][c] = wv.x;
    ws[r][c + 1u] = wv.y;
    ws[r][c + 2u] = wv.z;
    ws[r][c + 3u] = wv.w;
    workgroupBarrier();
    let row = 2u * lid.y;
    let col = 2u * lid.x;
    for (var k = 0u; k < TILE; k++) {
      let a = vec2<f32>(xs[row][k], xs[row + 1u][k]);
      let b = vec2<f32>(ws[col][k], ws[col + 1u][k]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 2u; i++) {
    let m = m0 + 2u * lid.y + i;
    for (var j = 0u; j < 2u; j++) {
      let n = n0 + 2u * lid.x + j;
      if (m < params.m && n < params.n) {
        out[m * params.out_stride + params.col_offset + n] = act(acc[i][j]);
      }
    }
  }
}
