import type { QuantName } from './format.js';

/**
 * What llama.cpp's CPU backend rounds a matmul's input to before its dot products with weights
 * of each format (GGML's vec_dot_type): 8-bit blocks of 32 values with an f16 scale (Q8_0) for
 * Q4_0 and Q8_0 weights, the same with the block's sum as an f16 (Q8_1) for the formats with an
 * offset (Q4_1, Q5_1: their dot products add offset × that sum), 8-bit blocks of 256 with an f32 scale (Q8_K) for the K-quants, f16 or
 * bf16 for those float weights, nothing for F32. Rounding the same way is what keeps our tokens
 * identical to llama.cpp's: its outputs differ from exact f32 math by ~1e-4 (NMSE) on 8-bit
 * inputs, enough to flip near-tied greedy choices.
 */
export type DotInput = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q8_1' | 'q8_k';

export const dotInput: Readonly<Record<QuantName, DotInput>> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  Q8_0: 'q8_0',
  Q4_0: 'q8_0',
  Q5_0: 'q8_0',
  IQ4_NL: 'q8_0',
  Q4_1: 'q8_1',
  Q5_1: 'q8_1',
  Q2_K: 'q8_k',
  Q3_K: 'q8_k',
  Q4_K: 'q8_k',
  Q5_K: 'q8_k',
  Q6_K: 'q8_k',
  IQ4_XS: 'q8_k',
};

/** Values per scale block of the 8-bit inputs. */
export const DOT_INPUT_BLOCK = { q8_0: 32, q8_1: 32, q8_k: 256 } as const;

/**
 * Whether the matvec's integer products (MatvecOptions.integerDot) take weights in `format` with x
 * rounded to `input` as it loads: the format's own 8-bit input, q8_0 or q8_k.
 */
export function integerDotFormat(format: QuantName, input: DotInput): boolean {
  return (input === 'q8_0' || input === 'q8_k') && dotInput[format] === input;
}
