// Rotary position embedding, in place, for every head of every token, as llama.cpp computes it.
// x (tokens, heads, head_dim) act, positions (tokens,) u32, freq_factors (rope_dims / 2,) f32
// -> x rotated. Pair i (i < rope_dims / 2) turns by
//   extrap = pos * freq_base^(-2i / rope_dims) / freq_factors[i]   (factors: llama 3.1 rope_freqs)
//   interp = freq_scale * extrap                                    (linear scaling)
//   theta  = interp, or with YaRN (ext_factor ≠ 0) a ramp from extrap (fast dims, i < corr_low)
//            to interp (slow dims, i > corr_high)
// and cos/sin are multiplied by mscale. Pairs: normal (llama) (x[2i], x[2i + 1]); NeoX (qwen2,
// gpt-neox) (x[i], x[i + rope_dims / 2]). Dims from rope_dims on pass through. One invocation a pair.
#include "include/enables.wgsl"

struct Params {
  tokens: u32,
  heads: u32,
  head_dim: u32, // elements per head
  rope_dims: u32, // rotated elements per head (even, ≤ head_dim)
  freq_base: f32, // rope_theta: 10000 (llama 2), 500000 (llama 3), 1000000 (qwen2)
  freq_scale: f32, // linear position scaling: 1 / factor
  neox: u32, // 1: NeoX pairs, 0: adjacent pairs
  has_freq_factors: u32, // 0: freq_factors is a placeholder, read as 1
  ext_factor: f32, // YaRN: 0 turns it off
  corr_low: f32, // YaRN ramp, in pairs (ggml_rope_yarn_corr_dims)
  corr_high: f32,
  mscale: f32, // cos/sin multiplier (attn_factor, times YaRN's when it applies)
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> x: array<act>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> freq_factors: array<f32>;

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
  var extrap = f32(positions[token]) * pow(params.freq_base, -2.0 * f32(i) / f32(params.rope_dims));
  if (params.has_freq_factors == 1u) {
    extrap /= freq_factors[i];
  }
  let interp = params.freq_scale * extrap;
  var theta = interp;
  if (params.ext_factor != 0.0) {
    let y = (f32(i) - params.corr_low) / max(0.001, params.corr_high - params.corr_low);
    let ramp = (1.0 - clamp(y, 0.0, 1.0)) * params.ext_factor;
    theta = interp * (1.0 - ramp) + extrap * ramp;
  }
  let c = cos(theta) * params.mscale;
  let s = sin(theta) * params.mscale;
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
