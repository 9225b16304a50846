// Repetition, frequency and presence penalties on the GPU, in place, before sampling, as
// llama.cpp's penalties sampler applies them to each token seen in the recent window:
//   logit ≤ 0: logit * repeat, else logit / repeat;   then logit -= count * freq + present.
// logits (rows, n) act, read and written; entries (count,) of (row, token, seen) u32 triples,
// each (row, token) at most once (the host counts), so no two invocations touch one logit.
// A token id ≥ n is skipped.
#include "include/enables.wgsl"

struct Params {
  count: u32, // entries
  n: u32, // vocabulary size
  repeat: f32, // 1 = off
  freq: f32, // 0 = off
  present: f32, // 0 = off
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

struct Entry {
  row: u32,
  token: u32,
  seen: u32, // times the token occurs in the window (≥ 1)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> entries: array<Entry>;
@group(0) @binding(2) var<storage, read_write> logits: array<act>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn penalize(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= params.count || entries[e].token >= params.n) {
    return;
  }
  let i = entries[e].row * params.n + entries[e].token;
  var x = f32(logits[i]);
  x = select(x / params.repeat, x * params.repeat, x <= 0.0);
  x -= f32(entries[e].seen) * params.freq + params.present;
  logits[i] = act(x);
}
