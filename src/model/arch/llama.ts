import type { ArchitectureSpec } from './index.js';

/** Llama 2 / 3.x, and the files written as llama: SmolLM2, TinyLlama, Mistral. */
export const llama: ArchitectureSpec<'llama'> = {
  name: 'llama',
  ropeNeox: false,
  // Llama 3.1+: per-pair frequency divisors, whatever the context.
  ropeFactors: (file) =>
    file.tensors.some((t) => t.name === 'rope_freqs.weight') ? 'rope_freqs.weight' : undefined,
};
