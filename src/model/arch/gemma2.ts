import type { ArchitectureSpec } from './index.js';

/**
 * Gemma 2: embeddings scaled by sqrt(width), GeGLU, RMSNorm after attention and after the
 * feed-forward too (post_attention_norm, post_ffw_norm, found by name; the converter stores
 * every norm weight as 1 + w, so they are plain RMSNorms), attention scores and final logits
 * soft-capped (attn_logit_softcapping, final_logit_softcapping), NeoX RoPE, and local attention
 * over a 4096-key window on every other layer, starting with the first. Queries scale by
 * 1 / sqrt(head dim); llama.cpp gives the 27B 1 / sqrt(width / heads) instead, which this does
 * not.
 */
export const gemma2: ArchitectureSpec<'gemma2'> = {
  name: 'gemma2',
  ropeNeox: true,
  activation: 'gelu',
  scaleEmbedding: true,
  swaPattern: 2,
};
