import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GgufError, RequestError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import type { GgufWriteValue } from './gguf/writer.js';
import { LanguageModel } from './language-model.js';
import { tinyModel } from './testing/tiny-model.js';
import { bytesSource } from './weights.js';

// Files whose metadata and tensors disagree, each a class of what an adversarial run found
// loading and computing garbage (or failing inside a kernel): every one is refused at load
// with a GgufError naming the key or the tensor at fault.

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireNodeGpu();
});
afterAll(() => gpu?.destroy());

const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });
const f32 = (value: number): GgufWriteValue => ({ type: 'f32', value });

// A 256-wide llama of 4 heads over 2 (64 each), ff 512, 2 layers.
const cases: [string, Record<string, GgufWriteValue>, RegExp][] = [
  [
    'heads that do not divide the width',
    { 'llama.attention.head_count': u32(5) },
    /5 heads do not divide the embedding of 256/,
  ],
  [
    'kv heads that do not group the heads',
    { 'llama.attention.head_count_kv': u32(3) },
    /3 does not divide 4 heads/,
  ],
  [
    'no heads',
    { 'llama.attention.head_count': u32(0) },
    /head_count".*must be a whole number above 0, got 0/,
  ],
  [
    'a feed-forward of 0',
    { 'llama.feed_forward_length': u32(0) },
    /feed_forward_length".*above 0, got 0/,
  ],
  [
    'more rotated dims than a head holds',
    { 'llama.rope.dimension_count': u32(1000) },
    /rope.dimension_count".*1000 rotated dims/,
  ],
  [
    'a head dim of 4096',
    { 'llama.attention.key_length': u32(4096) },
    /key_length".*heads of 4096 values/,
  ],
  [
    'a NaN epsilon',
    { 'llama.attention.layer_norm_rms_epsilon': f32(NaN) },
    /layer_norm_rms_epsilon".*finite number, got NaN/,
  ],
  ['a context of 0', { 'llama.context_length': u32(0) }, /context_length".*above 0, got 0/],
  [
    'fewer blocks than the file has',
    { 'llama.block_count': u32(1) },
    /blk\.1\..*past the 1 of llama\.block_count/,
  ],
  [
    'a width its tensors do not have',
    { 'llama.embedding_length': u32(128), 'llama.attention.key_length': u32(64) },
    /tensor "(output|token_embd)\.weight".*has dims \[256, \d+\].*\[128, /,
  ],
  [
    'a BOS id past the vocabulary',
    { 'tokenizer.ggml.bos_token_id': u32(1_000_000) },
    /bos_token_id".*1000000 is (not a token|outside the vocabulary)/,
  ],
  [
    'a feed-forward its tensors do not have',
    { 'llama.feed_forward_length': u32(384) },
    /tensor "blk\.0\.ffn_gate\.weight".*has dims \[256, 512\].*says \[256, 384\]/,
  ],
];

describe('malformed files are refused at load, naming what is wrong', () => {
  for (const [name, metadata, message] of cases) {
    it(name, async () => {
      const { bytes } = tinyModel({ architecture: 'llama', weights: 'F32', metadata });
      const load = LanguageModel.load(gpu, bytesSource(bytes), { contextSize: 64, maxBatch: 16 });
      await expect(load).rejects.toThrow(GgufError);
      await expect(load).rejects.toThrow(message);
    });
  }
});

describe('load options out of range are refused by name, before the file is read', () => {
  const options: [Parameters<typeof LanguageModel.load>[2], RegExp][] = [
    [{ contextSize: 1 }, /contextSize must be between 16 and \d+, got 1/],
    [{ contextSize: 64.5 }, /contextSize must be an integer, got 64.5/],
    [{ window: { window: 8, sinks: 0 } }, /window must be between 32 and \d+, got 8/],
    [{ window: { window: 64, sinks: 64 } }, /sinks \(64\) must be fewer than window \(64\)/],
    [{ sequences: 0 }, /sequences must be between 1 and 256, got 0/],
    [{ maxBatch: -3 }, /maxBatch must be between 1 and \d+, got -3/],
  ];
  it.each(options)('%o', async (option, message) => {
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'F32' });
    const load = LanguageModel.load(gpu, bytesSource(bytes), option);
    await expect(load).rejects.toThrow(RequestError);
    await expect(load).rejects.toThrow(message);
  });
});
