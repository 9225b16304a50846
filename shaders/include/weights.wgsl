// Weight decode, written once per format and shared by every kernel that reads weights.
// Exactly one of F32 F16 BF16 Q8_0 Q4_0 Q5_0 IQ4_NL Q4_1 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS
// is defined true; DENSE is true for the three float formats. The including shader declares the weights as
//   var<storage, read> w: array<u32>;   // GGUF bytes as they are, rows `row_bytes` apart
// or, with W_VEC4 (rows and blocks 16-byte aligned: Q4_K, Q5_K, and float rows of whole 16
// bytes), as
//   var<storage, read> w4: array<vec4<u32>>;   // the same bytes, read 16 a load (w_word)
// and reads them through w_at and w_word.
//
// A row is read in units of 32 values: unit_at(row_byte, u) finds unit u's bytes and scales,
// unit_w4(unit, i) gives its values 4i .. 4i+3. Byte layouts: src/model/quant/*.ts. Q4_1 and
// Q5_1 also have unit_offset(row_byte, u): the m their blocks add to every value, which
// llama.cpp's dot products multiply by the input block's f16 sum (q8_1) instead.

const UNIT_VALUES: u32 = 32u;

struct Unit {
  base: u32, // byte offset of the unit's low bits (or values)
  hbase: u32, // byte offset of its high bits (Q5_K, Q6_K)
  shift: u32, // bit shift of its nibble within each byte of `base`
  hshift: u32, // bit shift of its high bits within each byte of `hbase`
  scale: f32, // Q6_K, Q2_K, Q3_K: the scale of values 0..15
  scale_hi: f32, // Q6_K, Q2_K, Q3_K: the scale of values 16..31
  min: f32, // Q4_K, Q5_K, Q2_K: subtracted after scaling (Q4_1, Q5_1: -m)
  min_hi: f32, // Q2_K: the min of values 16..31
}

// Word i of the weights.
fn w_at(i: u32) -> u32 {
#if W_VEC4
  return w4[i >> 2u][i & 3u];
#else
  return w[i];
#endif
}

// Word i of the bytes at `base` (4-byte aligned; 16-byte aligned with W_VEC4, where a unit's
// words come in 16-byte loads: the words of one vec4, read for constant i, are one load).
fn w_word(base: u32, i: u32) -> u32 {
#if W_VEC4
  return w4[(base >> 4u) + (i >> 2u)][i & 3u];
#else
  return w[(base >> 2u) + i];
#endif
}

fn load_u8(byte: u32) -> u32 {
  return (w_at(byte >> 2u) >> ((byte & 3u) * 8u)) & 0xffu;
}

// Four bytes starting at any byte offset, little-endian.
fn load_u32_at(byte: u32) -> u32 {
  let word = byte >> 2u;
  let shift = (byte & 3u) * 8u;
  if (shift == 0u) {
    return w_at(word);
  }
  return (w_at(word) >> shift) | (w_at(word + 1u) << (32u - shift));
}

// An f16 at an even byte offset.
fn load_f16(byte: u32) -> f32 {
  return unpack2x16float(w_at(byte >> 2u) >> ((byte & 2u) * 8u)).x;
}

fn i8_at(byte: u32) -> f32 {
  return f32(bitcast<i32>(load_u8(byte) << 24u) >> 24u);
}

// The four bytes of `v` as signed integers.
fn unpack_i8x4(v: u32) -> vec4<f32> {
  let s = bitcast<vec4<i32>>(vec4<u32>(v << 24u, v << 16u, v << 8u, v)) >> vec4<u32>(24u);
  return vec4<f32>(s);
}

// The nibble at `shift` of each of the four bytes of `v`.
fn nibbles(v: u32, shift: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + shift)) & vec4<u32>(0xfu));
}

// Bits `shift`, `shift + 1` ... (`mask` wide) of each of the four bytes of `v`.
fn byte_bits(v: u32, shift: u32, mask: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + shift)) & vec4<u32>(mask));
}

// Byte i of the 12 bytes `b`.
fn byte_of(b: vec3<u32>, i: u32) -> u32 {
  return (b[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

// GGML's get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 scale bytes `b`.
fn scale_min_k4(b: vec3<u32>, j: u32) -> vec2<f32> {
  if (j < 4u) {
    return vec2<f32>(f32(byte_of(b, j) & 63u), f32(byte_of(b, j + 4u) & 63u));
  }
  let sc = (byte_of(b, j + 4u) & 0xfu) | ((byte_of(b, j - 4u) >> 6u) << 4u);
  let m = (byte_of(b, j + 4u) >> 4u) | ((byte_of(b, j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(m));
}

// A Q4_K or Q5_K super-block's d and dmin, and sub-block s's scale and min, from the block's
// first 16 bytes (one load with W_VEC4).
fn k4_scale_min(b0: u32, s: u32) -> vec4<f32> {
  let dm = unpack2x16float(w_word(b0, 0u));
  let sm = scale_min_k4(vec3<u32>(w_word(b0, 1u), w_word(b0, 2u), w_word(b0, 3u)), s);
  return vec4<f32>(dm, sm);
}

// The two words holding 16-bit values 4i .. 4i+3 of the unit at `base` (F16, BF16: rows of
// any even length are only 2-byte aligned, except with W_VEC4).
fn half_words(base: u32, i: u32) -> vec2<u32> {
#if W_VEC4
  return vec2<u32>(w_word(base, 2u * i), w_word(base, 2u * i + 1u));
#else
  let b = base + 8u * i;
  return vec2<u32>(load_u32_at(b), load_u32_at(b + 4u));
#endif
}

#if F32
fn unit_at(row_byte: u32, u: u32) -> Unit {
  return Unit(row_byte + 128u * u, 0u, 0u, 0u, 1.0, 1.0, 0.0, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let b = unit.base;
  let j = 4u * i;
  return bitcast<vec4<f32>>(
    vec4<u32>(w_word(b, j), w_word(b, j + 1u), w_word(b, j + 2u), w_word(b, j + 3u)),
  );
}
fn dense_weight(row_byte: u32, j: u32) -> f32 {
  return bitcast<f32>(w_word(row_byte, j));
}
#endif

#if F16
fn unit_at(row_byte: u32, u: u32) -> Unit {
  return Unit(row_byte + 64u * u, 0u, 0u, 0u, 1.0, 1.0, 0.0, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let words = half_words(unit.base, i);
  return vec4<f32>(unpack2x16float(words.x), unpack2x16float(words.y));
}
fn dense_weight(row_byte: u32, j: u32) -> f32 {
  return load_f16(row_byte + 2u * j);
}
#endif

#if BF16
fn bf16_pair(v: u32) -> vec2<f32> {
  return bitcast<vec2<f32>>(vec2<u32>(v << 16u, v & 0xffff0000u));
}
fn unit_at(row_byte: u32, u: u32) -> Unit {
  return Unit(row_byte + 64u * u, 0u, 0u, 0u, 1.0, 1.0, 0.0, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let words = half_words(unit.base, i);
  return vec4<f32>(bf16_pair(words.x), bf16_pair(words.y));
}
fn dense_weight(row_byte: u32, j: u32) -> f32 {
  let b = row_byte + 2u * j;
  return bitcast<f32>(((w_at(b >> 2u) >> ((b & 2u) * 8u)) & 0xffffu) << 16u);
}
#endif

#if Q8_0
// 34-byte blocks of 32: d:f16, then 32 int8.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 34u * u;
  return Unit(b0 + 2u, 0u, 0u, 0u, load_f16(b0), 0.0, 0.0, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  return unit.scale * unpack_i8x4(load_u32_at(unit.base + 4u * i));
}
#endif

#if Q4_0
// 18-byte blocks of 32: d:f16, then 16 bytes: values 0..15 in low nibbles, 16..31 in high.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 18u * u;
  return Unit(b0 + 2u, 0u, 0u, 0u, load_f16(b0), 0.0, 0.0, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let v = load_u32_at(unit.base + 4u * (i & 3u));
  return unit.scale * (nibbles(v, (i >> 2u) * 4u) - vec4<f32>(8.0));
}
#endif

#if Q5_0
// 22-byte blocks of 32: d:f16, 4 bytes of fifth bits (bit i for value i), 16 bytes: values
// 0..15 in low nibbles, 16..31 in high. Blocks are 2-byte aligned: reads go through load_u32_at.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 22u * u;
  return Unit(b0 + 6u, b0 + 2u, 0u, 0u, load_f16(b0), 0.0, 0.0, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let low = nibbles(load_u32_at(unit.base + 4u * (i & 3u)), (i >> 2u) * 4u);
  let bits = vec4<u32>(load_u32_at(unit.hbase)) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * i);
  let high = vec4<f32>(bits & vec4<u32>(1u));
  return unit.scale * (low + 16.0 * high - vec4<f32>(16.0));
}
#endif

#if Q4_1
// 20-byte blocks of 32: d:f16, m:f16, 16 bytes: values 0..15 in low nibbles, 16..31 in high;
// value d * q + m.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 20u * u;
  let dm = unpack2x16float(w[b0 >> 2u]);
  return Unit(b0 + 4u, 0u, 0u, 0u, dm.x, 0.0, -dm.y, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  return unit.scale * nibbles(w[(unit.base >> 2u) + (i & 3u)], (i >> 2u) * 4u) - vec4<f32>(unit.min);
}
fn unit_offset(row_byte: u32, u: u32) -> f32 {
  return unpack2x16float(w[(row_byte + 20u * u) >> 2u]).y;
}
#endif

#if Q5_1
// 24-byte blocks of 32: d:f16, m:f16, then Q5_0's fifth bits and nibbles; value d * q + m.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 24u * u;
  let dm = unpack2x16float(w[b0 >> 2u]);
  return Unit(b0 + 8u, b0 + 4u, 0u, 0u, dm.x, 0.0, -dm.y, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let low = nibbles(w[(unit.base >> 2u) + (i & 3u)], (i >> 2u) * 4u);
  let bits = vec4<u32>(w[unit.hbase >> 2u]) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * i);
  return unit.scale * (low + 16.0 * vec4<f32>(bits & vec4<u32>(1u))) - vec4<f32>(unit.min);
}
fn unit_offset(row_byte: u32, u: u32) -> f32 {
  return unpack2x16float(w[(row_byte + 24u * u) >> 2u]).y;
}
#endif

// IQ4_NL's and IQ4_XS's codebook (GGML's kvalues_iq4nl), and four values of a unit of 4-bit
// indices (values 0..15 in low nibbles, 16..31 in high) at `base`.
const IQ4_VALUES = array<f32, 16>(
  -127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
  1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0,
);
fn iq4_w4(base: u32, i: u32, scale: f32) -> vec4<f32> {
  let v = load_u32_at(base + 4u * (i & 3u));
  let q = (vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + (i >> 2u) * 4u)) & vec4<u32>(0xfu);
  return scale * vec4<f32>(IQ4_VALUES[q.x], IQ4_VALUES[q.y], IQ4_VALUES[q.z], IQ4_VALUES[q.w]);
}

#if IQ4_NL
// 18-byte blocks of 32: d:f16, 16 bytes of 4-bit codebook indices, value d * IQ4_VALUES[index].
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 18u * u;
  return Unit(b0 + 2u, 0u, 0u, 0u, load_f16(b0), 0.0, 0.0, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  return iq4_w4(unit.base, i, unit.scale);
}
#endif

#if IQ4_XS
// 136-byte super-blocks of 256: d:f16, scales_h:u16, scales_l: 4 bytes, then per 32-value unit
// b 16 bytes of codebook indices at 8 + 16b; its 6-bit scale ls from the nibble b % 2 of
// scales_l[b / 2] and bits 2b of scales_h; value d * (ls - 32) * IQ4_VALUES[index].
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 136u * (u >> 3u);
  let b = u & 7u;
  let high = (load_u8(b0 + 2u) | (load_u8(b0 + 3u) << 8u)) >> (2u * b);
  let ls = ((load_u8(b0 + 4u + (b >> 1u)) >> (4u * (b & 1u))) & 0xfu) | ((high & 3u) << 4u);
  return Unit(b0 + 8u + 16u * b, 0u, 0u, 0u, load_f16(b0) * f32(i32(ls) - 32), 0.0, 0.0, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  return iq4_w4(unit.base, i, unit.scale);
}
#endif

#if Q2_K
// 84-byte super-blocks of 256: 16 scale bytes (scale in the low nibble, min in the high), 64
// bytes of 2-bit values, d:f16, dmin:f16. Unit u (half n = u / 4, pass j = u % 4) takes bits 2j
// of the 32 bytes at 16 + 32n: its first 16 values with sub-block 8n + 2j's scale and min, its
// second 16 with the next one's.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 84u * (u >> 3u);
  let n = (u >> 2u) & 1u;
  let j = u & 3u;
  let dm = unpack2x16float(w[(b0 + 80u) >> 2u]);
  let s0 = load_u8(b0 + 8u * n + 2u * j);
  let s1 = load_u8(b0 + 8u * n + 2u * j + 1u);
  return Unit(
    b0 + 16u + 32u * n, 0u, 2u * j, 0u,
    dm.x * f32(s0 & 0xfu), dm.x * f32(s1 & 0xfu), dm.y * f32(s0 >> 4u), dm.y * f32(s1 >> 4u),
  );
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let q = byte_bits(w[(unit.base >> 2u) + i], unit.shift, 3u);
  let second = i >= 4u;
  return select(unit.scale, unit.scale_hi, second) * q - vec4<f32>(select(unit.min, unit.min_hi, second));
}
#endif

#if Q3_K
// 110-byte super-blocks of 256: 32 bytes of high bits (hmask), 64 bytes of 2-bit low bits, 12
// bytes of 6-bit scales, d:f16. Unit u (half n = u / 4, pass j = u % 4) takes bits 2j of the 32
// bytes at 32 + 32n and bit 4n + j of hmask's 32 bytes; value d * (scale - 32) * (low - 4) when
// the high bit is clear, d * (scale - 32) * low when set. Blocks are 2-byte aligned.
fn q3k_scale(o: u32, s: u32) -> f32 {
  let low = (load_u8(o + (s & 7u)) >> (4u * (s >> 3u))) & 0xfu;
  let high = (load_u8(o + 8u + (s & 3u)) >> (2u * (s >> 2u))) & 3u;
  return f32(i32(low | (high << 4u)) - 32);
}
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 110u * (u >> 3u);
  let n = (u >> 2u) & 1u;
  let j = u & 3u;
  let d = load_f16(b0 + 108u);
  let s = 8u * n + 2u * j;
  return Unit(
    b0 + 32u + 32u * n, b0, 2u * j, 4u * n + j,
    d * q3k_scale(b0 + 96u, s), d * q3k_scale(b0 + 96u, s + 1u), 0.0, 0.0,
  );
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let low = byte_bits(load_u32_at(unit.base + 4u * i), unit.shift, 3u);
  let high = byte_bits(load_u32_at(unit.hbase + 4u * i), unit.hshift, 1u);
  return select(unit.scale, unit.scale_hi, i >= 4u) * (low - 4.0 * (vec4<f32>(1.0) - high));
}
#endif

#if Q4_K
// 144-byte super-blocks of 256 (8 units): d, dmin, 12 scale bytes, 128 bytes of nibbles.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 144u * (u >> 3u);
  let s = u & 7u;
  let k = k4_scale_min(b0, s);
  return Unit(b0 + 16u + 32u * (s >> 1u), 0u, (s & 1u) * 4u, 0u, k.x * k.z, 0.0, k.y * k.w, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  return unit.scale * nibbles(w_word(unit.base, i), unit.shift) - vec4<f32>(unit.min);
}
#endif

#if Q5_K
// 176-byte super-blocks of 256: d, dmin, 12 scale bytes, 32 bytes of fifth bits, 128 of nibbles.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 176u * (u >> 3u);
  let s = u & 7u;
  let k = k4_scale_min(b0, s);
  return Unit(b0 + 48u + 32u * (s >> 1u), b0 + 16u, (s & 1u) * 4u, s, k.x * k.z, 0.0, k.y * k.w, 0.0);
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let low = nibbles(w_word(unit.base, i), unit.shift);
  let high = byte_bits(w_word(unit.hbase, i), unit.hshift, 1u);
  return unit.scale * (low + 16.0 * high) - vec4<f32>(unit.min);
}
#endif

#if Q6_K
// 210-byte super-blocks of 256: 128 bytes of low nibbles, 64 of 2-bit highs, 16 int8 scales,
// d:f16. Blocks are not 4-byte aligned, so every read goes through load_u32_at.
fn unit_at(row_byte: u32, u: u32) -> Unit {
  let b0 = row_byte + 210u * (u >> 3u);
  let t = u & 7u;
  let n = t >> 2u; // which 128-value half
  let k = t & 3u; // which 32-value quarter of it
  let d = load_f16(b0 + 208u);
  let sc = b0 + 192u + 8u * n + 2u * k;
  return Unit(
    b0 + 64u * n + 32u * (k & 1u),
    b0 + 128u + 32u * n,
    4u * (k >> 1u),
    2u * k,
    d * i8_at(sc),
    d * i8_at(sc + 1u),
    0.0,
    0.0,
  );
}
fn unit_w4(unit: Unit, i: u32) -> vec4<f32> {
  let low = nibbles(load_u32_at(unit.base + 4u * i), unit.shift);
  let high = byte_bits(load_u32_at(unit.hbase + 4u * i), unit.hshift, 3u);
  let scale = select(unit.scale, unit.scale_hi, i >= 4u);
  return scale * (low + 16.0 * high - vec4<f32>(32.0));
}
#endif

// A whole unit's 32 values at once, for kernels that use them all (matvec): values 4i .. 4i+3
// in wi. Q4_0 and Q8_0 read their bytes once, a word at a time (their blocks are only 2-byte
// aligned, so unit_w4 reads two words for each four values, and Q4_0 each word twice);
// on a CPU device (SwiftShader), where a load costs more than the arithmetic, that is most of
// a decode step. The others take unit_w4 eight times.
struct Unit32 {
  w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>,
  w4: vec4<f32>, w5: vec4<f32>, w6: vec4<f32>, w7: vec4<f32>,
}

// The four bytes at `byte`, from the aligned word holding it (`lo`) and the next (`hi`).
fn funnel(lo: u32, hi: u32, byte: u32) -> u32 {
  let shift = (byte & 3u) * 8u;
  return select((lo >> shift) | (hi << (32u - shift)), lo, shift == 0u);
}

#if Q4_0
// A Q4_0 unit's d and its 16 bytes of nibbles as four words, each 32-bit word read once.
fn q4_0_words(row_byte: u32, u: u32, d: ptr<function, f32>) -> vec4<u32> {
  let b0 = row_byte + 18u * u;
  *d = load_f16(b0);
  let q = b0 + 2u;
  let i = q >> 2u;
  let a0 = w[i];
  let a1 = w[i + 1u];
  let a2 = w[i + 2u];
  let a3 = w[i + 3u];
  // The fifth word only when the 16 bytes straddle it (never past the block's end).
  var a4 = 0u;
  if ((q & 3u) != 0u) {
    a4 = w[i + 4u];
  }
  return vec4<u32>(funnel(a0, a1, q), funnel(a1, a2, q), funnel(a2, a3, q), funnel(a3, a4, q));
}

fn unit_weights(row_byte: u32, u: u32) -> Unit32 {
  var d: f32;
  let v = q4_0_words(row_byte, u, &d);
  let eight = vec4<f32>(8.0);
  return Unit32(
    d * (nibbles(v[0], 0u) - eight), d * (nibbles(v[1], 0u) - eight),
    d * (nibbles(v[2], 0u) - eight), d * (nibbles(v[3], 0u) - eight),
    d * (nibbles(v[0], 4u) - eight), d * (nibbles(v[1], 4u) - eight),
    d * (nibbles(v[2], 4u) - eight), d * (nibbles(v[3], 4u) - eight),
  );
}
#else
#if Q8_0
// A Q8_0 unit's d and its 32 int8 values as eight words, each 32-bit word read once.
fn q8_0_words(row_byte: u32, u: u32, d: ptr<function, f32>) -> array<u32, 8> {
  let b0 = row_byte + 34u * u;
  *d = load_f16(b0);
  let q = b0 + 2u;
  let i = q >> 2u;
  let a0 = w[i];
  let a1 = w[i + 1u];
  let a2 = w[i + 2u];
  let a3 = w[i + 3u];
  let a4 = w[i + 4u];
  let a5 = w[i + 5u];
  let a6 = w[i + 6u];
  let a7 = w[i + 7u];
  var a8 = 0u;
  if ((q & 3u) != 0u) {
    a8 = w[i + 8u];
  }
  return array<u32, 8>(
    funnel(a0, a1, q), funnel(a1, a2, q), funnel(a2, a3, q), funnel(a3, a4, q),
    funnel(a4, a5, q), funnel(a5, a6, q), funnel(a6, a7, q), funnel(a7, a8, q),
  );
}

fn unit_weights(row_byte: u32, u: u32) -> Unit32 {
  var d: f32;
  let v = q8_0_words(row_byte, u, &d);
  return Unit32(
    d * unpack_i8x4(v[0]), d * unpack_i8x4(v[1]), d * unpack_i8x4(v[2]), d * unpack_i8x4(v[3]),
    d * unpack_i8x4(v[4]), d * unpack_i8x4(v[5]), d * unpack_i8x4(v[6]), d * unpack_i8x4(v[7]),
  );
}
#else
fn unit_weights(row_byte: u32, u: u32) -> Unit32 {
  let unit = unit_at(row_byte, u);
  return Unit32(
    unit_w4(unit, 0u), unit_w4(unit, 1u), unit_w4(unit, 2u), unit_w4(unit, 3u),
    unit_w4(unit, 4u), unit_w4(unit, 5u), unit_w4(unit, 6u), unit_w4(unit, 7u),
  );
}
#endif
#endif

#if INT_DOT
// A unit's 32 values as 8-bit integers, for products with x rounded to 8 bits by
// dot4I8Packed (packed_4x8_integer_dot_product): q[i] packs the integers of values 4i .. 4i+3,
// and value j is scale[h] * its integer - offset[h], h the unit's half j / 16. The integers are
// exact and their sums over a unit too (|sum| < 2^24), so a unit's product is two integer sums
// scaled (llama.cpp's CPU dot products scale theirs too, in another order), in a quarter of
// the float path's operations.
// For the formats whose input is q8_0 or q8_k (not Q4_1 and Q5_1: q8_1 adds its block sums).
struct UnitInts {
  q: array<u32, 8>,
  scale: vec2<f32>,
  offset: vec2<f32>,
}

// Masks of the low bits of each byte of a word.
const LOW4: u32 = 0x0f0f0f0fu;
const LOW2: u32 = 0x03030303u;
const LOW1: u32 = 0x01010101u;

// 32 values of x rounded to 8 bits as integers: q[i] packs values 4i .. 4i+3, x = d * integer,
// and sums holds the integers' sum over each half, for the weights' offsets.
struct XInts {
  q: array<u32, 8>,
  d: f32,
  sums: vec2<f32>,
}

// The 32 values of `v` as round(iscale * v) (q8_0 and q8_k alike: at most 127 in magnitude,
// which only q8_k's rounding can reach past), with their scale d.
fn x_ints_of(v: array<vec4<f32>, 8>, iscale: f32, d: f32) -> XInts {
  var q: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    q[i] = pack4xI8(vec4<i32>(min(vec4<f32>(127.0), round(iscale * v[i]))));
  }
  let lo = dot4I8Packed(q[0], LOW1) + dot4I8Packed(q[1], LOW1) + dot4I8Packed(q[2], LOW1) +
    dot4I8Packed(q[3], LOW1);
  let hi = dot4I8Packed(q[4], LOW1) + dot4I8Packed(q[5], LOW1) + dot4I8Packed(q[6], LOW1) +
    dot4I8Packed(q[7], LOW1);
  return XInts(q, d, vec2<f32>(f32(lo), f32(hi)));
}

// q8_0's (d, iscale) for 32 values: from their largest |x|.
fn q8_0_ints_scales(v: array<vec4<f32>, 8>) -> vec2<f32> {
  return q8_0_scales(amax8(v));
}

// A unit's integers of values 0..15 and of 16..31, four to a word.
fn ints_lo(q: array<u32, 8>) -> vec4<u32> {
  return vec4<u32>(q[0], q[1], q[2], q[3]);
}
fn ints_hi(q: array<u32, 8>) -> vec4<u32> {
  return vec4<u32>(q[4], q[5], q[6], q[7]);
}

// One unit's product: x's integers (xl: values 0..15, xh: 16..31), its scale d and each half's
// integer sum, times a row's integers (wl, wh) with each half's scale and offset: each half's
// integer sum scaled, less the offsets times x's sums, all times d.
fn ints_dot(xl: vec4<u32>, xh: vec4<u32>, d: f32, sums: vec2<f32>, wl: vec4<u32>, wh: vec4<u32>,
            scale: vec2<f32>, offset: vec2<f32>) -> f32 {
  let lo = dot4I8Packed(xl.x, wl.x) + dot4I8Packed(xl.y, wl.y) + dot4I8Packed(xl.z, wl.z) +
    dot4I8Packed(xl.w, wl.w);
  let hi = dot4I8Packed(xh.x, wh.x) + dot4I8Packed(xh.y, wh.y) + dot4I8Packed(xh.z, wh.z) +
    dot4I8Packed(xh.w, wh.w);
  return d * (dot(scale, vec2<f32>(f32(lo), f32(hi))) - dot(offset, sums));
}

// Four bits (values j .. j + 3's fifth bits) to bit 0 of each byte.
fn spread_bits4(b: u32) -> u32 {
  return (b & 1u) | ((b & 2u) << 7u) | ((b & 4u) << 14u) | ((b & 8u) << 21u);
}

// IQ4_VALUES as integers, and four codebook indices' values packed.
const IQ4_INTS = array<i32, 16>(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
fn iq4_ints(base: u32, i: u32) -> u32 {
  let v = load_u32_at(base + 4u * (i & 3u)) >> ((i >> 2u) * 4u);
  return pack4xI8(vec4<i32>(
    IQ4_INTS[v & 0xfu], IQ4_INTS[(v >> 8u) & 0xfu], IQ4_INTS[(v >> 16u) & 0xfu], IQ4_INTS[(v >> 24u) & 0xfu],
  ));
}

#if Q8_0
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  var d: f32;
  let q = q8_0_words(row_byte, u, &d);
  return UnitInts(q, vec2<f32>(d), vec2<f32>(0.0));
}
#endif

#if Q4_0
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  var d: f32;
  let v = q4_0_words(row_byte, u, &d);
  let lo = v & vec4<u32>(LOW4);
  let hi = (v >> vec4<u32>(4u)) & vec4<u32>(LOW4);
  return UnitInts(
    array<u32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w),
    vec2<f32>(d),
    vec2<f32>(8.0 * d),
  );
}
#endif

#if Q5_0
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  let unit = unit_at(row_byte, u);
  let fifth = load_u32_at(unit.hbase);
  var q: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let low = (load_u32_at(unit.base + 4u * (i & 3u)) >> ((i >> 2u) * 4u)) & LOW4;
    q[i] = low | (spread_bits4(fifth >> (4u * i)) << 4u);
  }
  return UnitInts(q, vec2<f32>(unit.scale), vec2<f32>(16.0 * unit.scale));
}
#endif

fn iq4_unit_ints(unit: Unit) -> UnitInts {
  var q: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    q[i] = iq4_ints(unit.base, i);
  }
  return UnitInts(q, vec2<f32>(unit.scale), vec2<f32>(0.0));
}

#if IQ4_NL
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  return iq4_unit_ints(unit_at(row_byte, u));
}
#endif

#if IQ4_XS
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  return iq4_unit_ints(unit_at(row_byte, u));
}
#endif

#if Q2_K
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  let unit = unit_at(row_byte, u);
  var q: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    q[i] = (w[(unit.base >> 2u) + i] >> unit.shift) & LOW2;
  }
  return UnitInts(q, vec2<f32>(unit.scale, unit.scale_hi), vec2<f32>(unit.min, unit.min_hi));
}
#endif

#if Q3_K
// low - 4 with the high bit clear, low with it set: (low | high << 2) - 4.
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  let unit = unit_at(row_byte, u);
  var q: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let low = (load_u32_at(unit.base + 4u * i) >> unit.shift) & LOW2;
    let high = (load_u32_at(unit.hbase + 4u * i) >> unit.hshift) & LOW1;
    q[i] = low | (high << 2u);
  }
  let scale = vec2<f32>(unit.scale, unit.scale_hi);
  return UnitInts(q, scale, 4.0 * scale);
}
#endif

#if Q4_K
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  let unit = unit_at(row_byte, u);
  var q: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    q[i] = (w_word(unit.base, i) >> unit.shift) & LOW4;
  }
  return UnitInts(q, vec2<f32>(unit.scale), vec2<f32>(unit.min));
}
#endif

#if Q5_K
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  let unit = unit_at(row_byte, u);
  var q: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let low = (w_word(unit.base, i) >> unit.shift) & LOW4;
    let high = (w_word(unit.hbase, i) >> unit.hshift) & LOW1;
    q[i] = low | (high << 4u);
  }
  return UnitInts(q, vec2<f32>(unit.scale), vec2<f32>(unit.min));
}
#endif

#if Q6_K
fn unit_ints(row_byte: u32, u: u32) -> UnitInts {
  let unit = unit_at(row_byte, u);
  var q: array<u32, 8>;
  for (var i = 0u; i < 8u; i++) {
    let low = (load_u32_at(unit.base + 4u * i) >> unit.shift) & LOW4;
    let high = (load_u32_at(unit.hbase + 4u * i) >> unit.hshift) & LOW2;
    q[i] = low | (high << 4u);
  }
  let scale = vec2<f32>(unit.scale, unit.scale_hi);
  return UnitInts(q, scale, 32.0 * scale);
}
#endif
#endif
