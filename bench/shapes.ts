// The generated models the speed benchmarks run (random weights, llama architecture): S for
// software adapters, L, XL (a Llama-3.2-1B trunk: 16x2048, ff 8192, 32/8 heads) and 3B (a
// Llama-3.2-3B trunk: 28x3072, ff 8192, 24/8 heads of 128; issue 20's 3B-class target) for GPUs.
import type { QuantName } from '../src/quant/index.js';
import { tinyModel } from '../src/model/testing/tiny-model.js';

export interface Shape {
  layers: number;
  embedding: number;
  ff: number;
  heads: number;
  kvHeads: number;
}

export const SHAPES: Record<string, Shape> = {
  S: { layers: 6, embedding: 512, ff: 1536, heads: 8, kvHeads: 2 },
  L: { layers: 20, embedding: 1024, ff: 3072, heads: 16, kvHeads: 4 },
  XL: { layers: 16, embedding: 2048, ff: 8192, heads: 32, kvHeads: 8 },
  '3B': { layers: 28, embedding: 3072, ff: 8192, heads: 24, kvHeads: 8 },
};

/** A GGUF of `shape` in `weights` (its small residual scale keeps greedy decoding varied). */
export function benchModel(shape: Shape, weights: QuantName): Uint8Array {
  return tinyModel({
    architecture: 'llama',
    weights,
    layers: shape.layers,
    embedding: shape.embedding,
    feedForward: shape.ff,
    heads: shape.heads,
    kvHeads: shape.kvHeads,
    contextLength: 4096,
    residualScale: 0.1,
  }).bytes;
}
