// Elementwise kernels over n values, one entry point each; one invocation per value.
//   silu_mul: out = silu(a) * b     the SwiGLU gate: a = gate projection, b = up projection
//   gelu_mul: out = gelu(a) * b     the GeGLU gate (Gemma), GELU as llama.cpp's CPU has it (gelu_ggml)
//   add:      out = a + b           the residual connection
//   add_rows: out = a + b[i % b_len]  a bias added to every row of a (rows of b_len)
// a (n,), b (n,) -> out (n,); out may not alias a or b (WebGPU forbids writable overlaps).
#include "include/enables.wgsl"
#include "include/rounding.wgsl"

struct Params {
  n: u32,
  b_len: u32, // add_rows: the row length (b's size)
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<act>;
@group(0) @binding(2) var<storage, read> b: array<act>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;

override WG: u32 = 256;

fn flat_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn silu_mul(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i < params.n) {
    let g = f32(a[i]);
    out[i] = act(g / (1.0 + exp(-g)) * f32(b[i]));
  }
}

@compute @workgroup_size(WG)
fn gelu_mul(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i < params.n) {
    out[i] = act(gelu_ggml(f32(a[i])) * f32(b[i]));
  }
}

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i < params.n) {
    out[i] = act(f32(a[i]) + f32(b[i]));
  }
}

@compute @workgroup_size(WG)
fn add_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i < params.n) {
    out[i] = act(f32(a[i]) + f32(b[i % params.b_len]));
  }
}
