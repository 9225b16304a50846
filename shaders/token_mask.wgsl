// Grammar-constrained sampling: tokens the grammar forbids get a logit no sampler picks.
// logits (rows, n) act, in place; mask (rows, words) u32 bitsets, bit t % 32 of word t / 32:
// 1 = allowed. A forbidden logit becomes -65504 (the most negative f16, finite in both
// activation types): exp of it against any real logit is 0, and argmax passes it by.
#include "include/enables.wgsl"

struct Params {
  rows: u32,
  n: u32, // vocabulary size
  words: u32, // u32 words per row of the mask, ceil(n / 32)
  _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> logits: array<act>;

override WG: u32 = 256;

const FORBIDDEN: f32 = -65504.0;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.rows * params.n) {
    return;
  }
  let row = i / params.n;
  let t = i % params.n;
  let word = mask[row * params.words + t / 32u];
  if (((word >> (t % 32u)) & 1u) == 0u) {
    logits[i] = act(FORBIDDEN);
  }
}
