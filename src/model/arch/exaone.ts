import type { ArchitectureSpec } from './index.js';
import { llama } from './llama.js';

/**
 * EXAONE 3.0 / 3.5 (LG AI Research): llama's layer under its own name, as llama.cpp's exaone
 * builds it, but with NeoX RoPE pairs (its converter, unlike llama's, does not permute q and k
 * to adjacent pairs), Llama 3.1's per-pair divisors (rope_freqs) where the file has them.
 */
export const exaone: ArchitectureSpec<'exaone'> = {
  name: 'exaone',
  ropeNeox: true,
  ropeFactors: llama.ropeFactors,
};
