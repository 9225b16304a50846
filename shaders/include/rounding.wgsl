// How llama.cpp rounds a matmul's input for weights of a given format (src/model/quant/dot-input.ts),
// shared by dot_input.wgsl (a pass of its own) and matvec.wgsl (as it loads x).

// The f32 nearest to v that an f16 holds, ties to even, by integer arithmetic: WGSL leaves the
// rounding of f32 -> f16 conversions to the implementation.
fn nearest_f16(v: f32) -> f32 {
  let a = abs(v);
  if (a >= 65520.0) {
    return bitcast<f32>((bitcast<u32>(v) & 0x80000000u) | 0x7f800000u); // ±inf, as f16 holds
  }
  if (a < 6.103515625e-05) {
    // f16 subnormals are multiples of 2^-24; scaling by a power of two is exact.
    return round(v * 16777216.0) / 16777216.0;
  }
  let bits = bitcast<u32>(v);
  return bitcast<f32>((bits + 0xfffu + ((bits >> 13u) & 1u)) & 0xffffe000u);
}

fn nearest_bf16(v: f32) -> f32 {
  let bits = bitcast<u32>(v);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return v;
  }
  return bitcast<f32>((bits + 0x7fffu + ((bits >> 16u) & 1u)) & 0xffff0000u);
}

// The largest magnitude of 32 values.
fn amax8(v: array<vec4<f32>, 8>) -> f32 {
  let m4 = max(max(max(abs(v[0]), abs(v[1])), max(abs(v[2]), abs(v[3]))),
    max(max(abs(v[4]), abs(v[5])), max(abs(v[6]), abs(v[7]))));
  return max(max(m4.x, m4.y), max(m4.z, m4.w));
}

// The scale that takes a block of largest |x| `amax` to 8-bit integers (127 / amax; 0 for a
// block of zeros), and the step back from it (1 / iscale; 0 likewise).
fn int8_iscale(amax: f32) -> f32 {
  return select(0.0, 127.0 / amax, amax != 0.0);
}
fn int8_d(iscale: f32) -> f32 {
  return select(0.0, 1.0 / iscale, iscale != 0.0);
}

// A q8_0 block's (d, 1 / step) from its largest |x|: values become d * round(x * id).
fn q8_0_scales(amax: f32) -> vec2<f32> {
  return vec2<f32>(nearest_f16(amax / 127.0), int8_iscale(amax));
}

// What a q8_1 block's sum adds beyond its rounded values' own: llama.cpp keeps
// f16(amax / 127 * Σq), the scale unrounded, where the values sum to f16(amax / 127) * Σq
// (exactly, in f32). Its dot products multiply that sum by the weight block's offset.
fn q8_1_correction(amax: f32, qsum: f32) -> f32 {
  let d = amax / 127.0;
  return nearest_f16(d * qsum) - nearest_f16(d) * qsum;
}

// GELU (tanh form) as llama.cpp's CPU computes it (GGML_GELU_FP16): 0 below -10, x above 10,
// else its table: the input rounded to f16, the GELU of that rounded to f16.
fn gelu_ggml(x: f32) -> f32 {
  if (x <= -10.0) {
    return 0.0;
  }
  if (x >= 10.0) {
    return x;
  }
  let h = nearest_f16(x);
  return nearest_f16(0.5 * h * (1.0 + tanh(0.7978845608028654 * h * (1.0 + 0.044715 * h * h))));
}
