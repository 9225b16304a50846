// In-place unary ops over n values, one f32 parameter each; one invocation per value.
//   scale:   x = x * value                       Gemma's embeddings, times sqrt(width)
//   softcap: x = value * tanh(x / value)          Gemma 2's final logit soft-capping
// x (n,) act, read and written.
#include "include/enables.wgsl"

struct Params {
  n: u32,
  value: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<act>;

override WG: u32 = 256;

fn flat_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i < params.n) {
    x[i] = act(f32(x[i]) * params.value);
  }
}

@compute @workgroup_size(WG)
fn softcap(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i < params.n) {
    x[i] = act(params.value * tanh(f32(x[i]) / params.value));
  }
}
