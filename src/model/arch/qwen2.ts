import type { ArchitectureSpec } from './index.js';

/** Qwen2 and Qwen2.5: llama's layer with q/k/v biases (found by name), NeoX RoPE. */
export const qwen2: ArchitectureSpec<'qwen2'> = { name: 'qwen2', ropeNeox: true };
