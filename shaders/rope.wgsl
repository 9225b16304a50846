// Rotary position embedding, in place, for every head of every token, as llama.cpp computes it.
// x (tokens, heads, head_dim) act, cache (tokens, rope_dims / 2) vec2 f32 -> x rotated.
// Pair i of token t turns by cache[t * rope_dims / 2 + i] = (cos, sin), already scaled: the host
// computes the angles (ropeCache in src/kernels/reference/rope.ts) in llama.cpp's f32 steps,
// since WGSL's sin and cos are only held to 2^-11 absolute error, which shows at long positions.
// Pairs: normal (llama) (x[2i], x[2i + 1]); NeoX (qwen2, gpt-neox) (x[i], x[i + rope_dims / 2]).
// Dims from rope_dims on pass through. One invocation a pair.
#include "include/enables.wgsl"

struct Params {
  tokens: u32,
  heads: u32,
  head_dim: u32, // elements per head
  rope_dims: u32, // rotated elements per head (even, ≤ head_dim)
  neox: u32, // 1: NeoX pairs, 0: adjacent pairs
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<act>;
@group(0) @binding(2) var<storage, read> cache: array<vec2f>;

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
  let cs = cache[token * half + i];
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
  x[a] = act(x0 * cs.x - x1 * cs.y);
  x[b] = act(x0 * cs.y + x1 * cs.x);
}
