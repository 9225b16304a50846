// Rotary position embedding, in place, for every head of every token.
// x (tokens, heads, head_dim) act, positions (tokens,) u32 -> x rotated.
// Pair i (i < rope_dims / 2) turns by pos * freq_scale * freq_base^(-2i / rope_dims):
//   normal (llama): the pair is (x[2i], x[2i + 1]);
//   NeoX (qwen2, gpt-neox): the pair is (x[i], x[i + rope_dims / 2]).
// Dimensions from rope_dims on pass through untouched. One invocation per pair.
#include "include/enables.wgsl"

struct Params {
  tokens: u32,
  heads: u32,
  head_dim: u32, // elements per head
  rope_dims: u32, // rotated elements per head (even, ≤ head_dim)
  freq_base: f32, // rope_theta: 10000 (llama 2), 500000 (llama 3), 1000000 (qwen2)
  freq_scale: f32, // linear position scaling: 1 / factor
  neox: u32, // 1: NeoX pairs, 0: adjacent pairs
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<act>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half = params.rope_dims / 2u;
  let index = gid.x + gid.y * nwg.x * WG;
  if (index >= params.tokens * params.heads * half) {
    return;
  }
  let i = index % half;
  let head = index / half; // token * heads + head
  let token = head / params.heads;
  let theta = f32(positions[token]) * params.freq_scale *
    pow(params.freq_base, -2.0 * f32(i) / f32(params.rope_dims));
  let c = cos(theta);
  let s = sin(theta);
  let base = head * params.head_dim;
  var a: u32;
  var b: u32;
  if (params.neox == 1u) {
    a = base + i;
    b = base + i + half;
  } else {
    a = base + 2u * i;
    b = a + 1u;
  }
  let x0 = f32(x[a]);
  let x1 = f32(x[b]);
  x[a] = act(x0 * c - x1 * s);
  x[b] = act(x0 * s + x1 * c);
}
