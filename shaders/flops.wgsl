// Peak arithmetic: long independent chains of vec4 multiply-adds in registers, then one store
// per invocation so nothing is optimized away. The ceiling the GEMM is measured against in
// bench/kernels.ts. out (invocations,) f32
#include "include/enables.wgsl"

struct Params {
  iterations: u32,
  seed: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = params.seed + f32(gid.x) * 1e-7;
  // Multipliers just under 1 keep every chain finite however long it runs.
  let a = vec4<f32>(0.9999, 0.9998, 0.9997, 0.9996);
  let b = vec4<f32>(s);
  var c0 = vec4<f32>(s);
  var c1 = vec4<f32>(s + 1.0);
  var c2 = vec4<f32>(s + 2.0);
  var c3 = vec4<f32>(s + 3.0);
  for (var i = 0u; i < params.iterations; i++) {
    c0 = fma(c0, a, b);
    c1 = fma(c1, a, b);
    c2 = fma(c2, a, b);
    c3 = fma(c3, a, b);
  }
  let v = c0 + c1 + c2 + c3;
  out[gid.x + gid.y * nwg.x * WG] = v.x + v.y + v.z + v.w;
}
