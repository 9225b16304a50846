// Rounds a matmul's input the way llama.cpp's CPU backend does before its dot products with
// weights of a given format (src/model/quant/dot-input.ts), so our logits and greedy tokens
// match llama.cpp's. The output holds the rounded values as floats; the matvec and GEMM kernels
// then run unchanged on it.
//   q8_0: blocks of 32; id = 127 / amax, q = round(x * id) (half to even), value = f16(amax / 127) * q
//   q8_1: as q8_0, and per block into `corrections` what its sum adds (q8_1_correction): the
//         GEMM multiplies it by each weight block's offset (Q4_1, Q5_1)
//   q8_k: blocks of 256; m = the value of largest |x|, iscale = -127 / m,
//         q = min(127, round(iscale * x)), value = (1 / iscale) * q
//   f16, bf16: each value rounded to nearest even in that format.
// x (n,) act -> out (n,) act; n a multiple of the block (rows are whole blocks).
#include "include/enables.wgsl"
#include "include/rounding.wgsl"

struct Params {
  n: u32, // values
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<act>;
@group(0) @binding(2) var<storage, read_write> out: array<act>;
@group(0) @binding(3) var<storage, read_write> corrections: array<f32>; // q8_1: (n / 32,)

override WG: u32 = 64;

fn flat_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// The 32 values from `start` rounded to q8_0 into out; returns (amax, Σq) for q8_1's sum.
fn round_q8_block(start: u32) -> vec2<f32> {
  var amax = 0.0;
  for (var j = 0u; j < 32u; j++) {
    amax = max(amax, abs(f32(x[start + j])));
  }
  let s = q8_0_scales(amax);
  var qsum = 0.0;
  for (var j = 0u; j < 32u; j++) {
    let q = round(f32(x[start + j]) * s.y);
    qsum += q;
    out[start + j] = act(s.x * q);
  }
  return vec2<f32>(amax, qsum);
}

@compute @workgroup_size(WG)
fn dot_q8_0(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let start = flat_index(gid, nwg) * 32u;
  if (start < params.n) {
    round_q8_block(start);
  }
}

@compute @workgroup_size(WG)
fn dot_q8_1(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let block = flat_index(gid, nwg);
  if (block * 32u < params.n) {
    let r = round_q8_block(block * 32u);
    corrections[block] = q8_1_correction(r.x, r.y);
  }
}

@compute @workgroup_size(WG)
fn dot_q8_k(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let start = flat_index(gid, nwg) * 256u;
  if (start >= params.n) {
    return;
  }
  var amax = 0.0;
  var m = 0.0;
  for (var j = 0u; j < 256u; j++) {
    let v = f32(x[start + j]);
    if (abs(v) > amax) {
      amax = abs(v);
      m = v;
    }
  }
  let iscale = select(0.0, -127.0 / m, amax != 0.0);
  let d = int8_d(iscale);
  for (var j = 0u; j < 256u; j++) {
    out[start + j] = act(d * min(127.0, round(iscale * f32(x[start + j]))));
  }
}

@compute @workgroup_size(WG)
fn dot_f16(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i < params.n) {
    out[i] = act(nearest_f16(f32(x[i])));
  }
}

@compute @workgroup_size(WG)
fn dot_bf16(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i < params.n) {
    out[i] = act(nearest_bf16(f32(x[i])));
  }
}
