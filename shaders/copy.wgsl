// Buffer copy, 16 bytes per invocation per step: the memory-bandwidth ceiling that the
// memory-bound kernels (matvec, norms) are measured against in bench/kernels.ts.
// src (n,) vec4 -> dst (n,) vec4
#include "include/enables.wgsl"

struct Params {
  n: u32, // vec4 elements
  stride: u32, // invocations in the whole grid
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  for (var i = gid.x; i < params.n; i += params.stride) {
    dst[i] = src[i];
  }
}
