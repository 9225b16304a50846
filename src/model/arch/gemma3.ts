import type { ArchitectureSpec } from './index.js';

/**
 * Gemma 3 (text): Gemma 2's layer with per-head q and k RMSNorms (found by name) and without
 * soft-capping; local attention on five layers of every six (attention.sliding_window_pattern
 * when the file says), and the local layers' RoPE its own: base 10000, unscaled, where the
 * global layers take rope.freq_base (and rope.scaling). As llama.cpp's gemma3.
 */
export const gemma3: ArchitectureSpec<'gemma3'> = {
  name: 'gemma3',
  ropeNeox: true,
  activation: 'gelu',
  scaleEmbedding: true,
  swaPattern: 6,
  localRopeBase: 10000,
};
