// Token sampling on the GPU, one workgroup per sequence, so only the token id is read back.
// logits (rows, n) act, settings (rows,) -> ids (rows,) u32
//
// Per row, with its own settings (sub-agents sample differently), in llama.cpp's order:
//   temperature ≤ 0: greedy, the first largest logit (as argmax.wgsl);
//   otherwise, with f = exp(logit - max) (probabilities before temperature, unnormalized):
//     top-k:  keep logits ≥ the k-th largest (ties kept; 0 = off),
//     top-p:  of those, keep the fewest largest f whose mass reaches top_p of theirs (ties
//             kept; 1 = off),
//     min-p:  keep f ≥ min_p (f of the largest is 1; 0 = off),
//   then sample from the kept tokens with weights w = exp((logit - max) / temperature): the
//   token is where u · (kept w mass) falls in their running sum, in vocabulary order. u in
//   [0, 1) comes from the host's seeded generator, so a seed replays a generation.
// Thresholds are found by bisecting order-preserving bit patterns: 32 exact passes, no sort.
#include "include/enables.wgsl"
#include "include/reduce.wgsl"

struct Params {
  rows: u32,
  n: u32, // vocabulary size
  _pad0: u32,
  _pad1: u32,
}

struct Settings {
  temperature: f32,
  top_k: u32,
  top_p: f32,
  min_p: f32,
  u: f32, // uniform in [0, 1)
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<act>;
@group(0) @binding(2) var<storage, read> settings: array<Settings>;
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;

var<workgroup> row_settings: Settings;
var<workgroup> chunk_mass: array<f32, WG>;
var<workgroup> picked: atomic<u32>;

// Logit bits ordered as the floats are: larger float, larger key.
fn order_key(v: f32) -> u32 {
  let bits = bitcast<u32>(v);
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

fn logit(base: u32, i: u32) -> f32 {
  return f32(logits[base + i]);
}

// The sampling weight of logit x if every filter keeps it, else 0.
fn kept_weight(x: f32, top: f32, inv_t: f32, k_key: u32, p_bits: u32, min_p: f32) -> f32 {
  let f = exp(x - top);
  let keep = order_key(x) >= k_key && bitcast<u32>(f) >= p_bits && f >= min_p;
  return select(0.0, exp((x - top) * inv_t), keep);
}

const NONE: u32 = 0xffffffffu;

@compute @workgroup_size(WG)
fn main(inv: Invocation) {
  let row = flat_workgroup(inv);
  if (inv.lid == 0u) {
    row_settings = settings[min(row, params.rows - 1u)];
    atomicStore(&picked, 0xffffffffu);
  }
  let s = workgroupUniformLoad(&row_settings);
  let base = row * params.n;
  let n = params.n;

  var top = -3.0e38;
  for (var i = inv.lid; i < n; i += WG) {
    top = max(top, logit(base, i));
  }
  top = workgroup_max(top, inv);
  // No finite logit to take (NaN or infinite logits: broken weights, or every token masked):
  // the row gets NONE, past the vocabulary, for the caller to name; never a made-up token.
  let broken = (bitcast<u32>(top) & 0x7f800000u) == 0x7f800000u || top <= -3.0e38;

  if (s.temperature <= 0.0) {
    // Greedy: the lowest index holding the maximum.
    var first = f32(n);
    for (var i = inv.lid; i < n; i += WG) {
      if (logit(base, i) == top) {
        first = min(first, f32(i));
        break;
      }
    }
    let lowest = -workgroup_max(-first, inv);
    if (inv.lid == 0u && row < params.rows) {
      ids[row] = select(u32(lowest), NONE, broken || lowest >= f32(n));
    }
    return;
  }

  // Top-k: the largest key K with at least k logits ≥ K, built bit by bit.
  var k_key = 0u;
  if (s.top_k > 0u && s.top_k < n) {
    for (var bit = 31i; bit >= 0i; bit--) {
      let candidate = k_key | (1u << u32(bit));
      var count = 0.0;
      for (var i = inv.lid; i < n; i += WG) {
        count += select(0.0, 1.0, order_key(logit(base, i)) >= candidate);
      }
      if (workgroup_sum(count, inv) >= f32(s.top_k)) {
        k_key = candidate;
      }
    }
  }

  // Top-p: the largest f bits P such that the top-k survivors with f ≥ P hold top_p of their mass.
  var p_bits = 0u;
  if (s.top_p < 1.0) {
    var mass = 0.0;
    for (var i = inv.lid; i < n; i += WG) {
      let x = logit(base, i);
      mass += select(0.0, exp(x - top), order_key(x) >= k_key);
    }
    let goal = s.top_p * workgroup_sum(mass, inv);
    for (var bit = 30i; bit >= 0i; bit--) {
      let candidate = p_bits | (1u << u32(bit));
      var above = 0.0;
      for (var i = inv.lid; i < n; i += WG) {
        let x = logit(base, i);
        let f = exp(x - top);
        above += select(0.0, f, order_key(x) >= k_key && bitcast<u32>(f) >= candidate);
      }
      if (workgroup_sum(above, inv) >= goal) {
        p_bits = candidate;
      }
    }
  }

  // Each invocation owns a contiguous chunk: its kept weight, then a scan over the chunks.
  let inv_t = 1.0 / s.temperature;
  let chunk = (n + WG - 1u) / WG;
  let lo = min(inv.lid * chunk, n);
  let hi = min(lo + chunk, n);
  var own = 0.0;
  for (var i = lo; i < hi; i++) {
    own += kept_weight(logit(base, i), top, inv_t, k_key, p_bits, s.min_p);
  }
  chunk_mass[inv.lid] = own;
  workgroupBarrier();
  var before = 0.0;
  var total = 0.0;
  for (var t = 0u; t < WG; t++) {
    let m = chunk_mass[t];
    before += select(0.0, m, t < inv.lid);
    total += m;
  }
  let draw = s.u * total;
  // The chunk whose range holds draw picks inside it; the last chunk with weight also takes
  // a draw that rounding left at its end (the sums run in the same order, so its
  // before + own equals total exactly). Two claims from rounding: the lower index wins.
  if (own > 0.0 && draw >= before && (draw < before + own || before + own >= total)) {
    var running = before;
    var last = 0xffffffffu;
    for (var i = lo; i < hi; i++) {
      let w = kept_weight(logit(base, i), top, inv_t, k_key, p_bits, s.min_p);
      if (w > 0.0) {
        last = i;
        running += w;
        if (draw < running) {
          break;
        }
      }
    }
    atomicMin(&picked, last);
  }
  workgroupBarrier();
  if (inv.lid == 0u && row < params.rows) {
    // Nothing kept can only come from logits that are not finite: NONE as well.
    ids[row] = select(atomicLoad(&picked), NONE, broken);
  }
}
