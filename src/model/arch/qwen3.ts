import type { ArchitectureSpec } from './index.js';

/** Qwen3: per-head RMSNorm of q and k (found by name), no biases, NeoX RoPE. */
export const qwen3: ArchitectureSpec<'qwen3'> = { name: 'qwen3', ropeNeox: true };
