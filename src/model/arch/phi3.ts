import type { ArchitectureSpec } from './index.js';

/**
 * Phi-3, Phi-3.5 and Phi-4-mini: llama's layer with q, k and v in one attn_qkv tensor and the
 * gate and up rows in one ffn_up (gate first, as llama.cpp's swiglu halves it), NeoX RoPE over
 * rope.dimension_count dims (Phi-4-mini rotates 3/4 of each head), and LongRoPE: per-pair
 * divisors from rope_factors_short, or rope_factors_long when the context in use passes
 * rope.scaling.original_context_length (llama.cpp's get_rope_factors), with cos and sin scaled
 * by rope.scaling.attn_factor. The sliding window the file names is not used, as in llama.cpp.
 */
export const phi3: ArchitectureSpec<'phi3'> = {
  name: 'phi3',
  ropeNeox: true,
  fused: ({ qRows, kvRows, feedForward }) => [
    {
      name: 'attn_qkv.weight',
      parts: [
        ['attn_q.weight', qRows],
        ['attn_k.weight', kvRows],
        ['attn_v.weight', kvRows],
      ],
    },
    {
      name: 'ffn_up.weight',
      parts: [
        ['ffn_gate.weight', feedForward],
        ['ffn_up.weight', feedForward],
      ],
    },
  ],
  ropeFactors: (file, contextSize) => {
    const original = file.metadata.get('phi3.rope.scaling.original_context_length');
    const long = typeof original === 'number' && contextSize > original;
    const name = long ? 'rope_factors_long.weight' : 'rope_factors_short.weight';
    return file.tensors.some((t) => t.name === name) ? name : undefined;
  },
};
