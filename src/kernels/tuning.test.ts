import { describe, expect, it } from 'vitest';
import {
  ATTENTION_SPLIT_WORKGROUPS,
  attentionKeysPerSplit,
  attentionMostSplits,
} from './tuning.js';

describe('attention split sizing', () => {
  const gpu = { software: false };
  const shapes = [
    { heads: 32, workgroup: 128 },
    { heads: 14, workgroup: 128 },
    { heads: 8, workgroup: 32 },
  ];

  it('covers every key in whole steps, never past the splits the scratch is sized for', () => {
    for (const software of [false, true]) {
      for (const { heads, workgroup } of shapes) {
        for (const queries of [1, 2, 3, 7, 64]) {
          const most = (maxKeys: number) =>
            attentionMostSplits({ software }, { maxKeys, heads, queries, workgroup });
          for (let maxKeys = 1; maxKeys <= 20_000; maxKeys += 37) {
            const shape = { maxKeys, heads, queries, workgroup };
            const keys = attentionKeysPerSplit({ software }, shape);
            const splits = Math.ceil(maxKeys / keys);
            expect(keys % workgroup === 0 || software).toBe(true);
            expect(splits * keys).toBeGreaterThanOrEqual(maxKeys);
            // The bound holds for every shorter context too: scratch is sized once.
            expect(splits).toBeLessThanOrEqual(most(maxKeys));
            expect(most(maxKeys)).toBeLessThanOrEqual(most(maxKeys + 37));
          }
        }
      }
    }
  });

  it('fills a GPU from one decoding sequence', () => {
    const shape = { maxKeys: 4096, heads: 32, queries: 1, workgroup: 128 };
    const keys = attentionKeysPerSplit(gpu, shape);
    expect(keys).toBe(128);
    expect((4096 / keys) * 32).toBe(ATTENTION_SPLIT_WORKGROUPS);
    // A prefill chunk's queries fill it alone: one split each.
    expect(attentionKeysPerSplit(gpu, { ...shape, queries: 64 })).toBe(4096);
    // Software adapters keep long splits.
    expect(attentionKeysPerSplit({ software: true }, shape)).toBe(512);
  });
});
