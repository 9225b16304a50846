import { describe, expect, it } from 'vitest';
import { KvCacheFullError } from '../errors.js';
import { BlockPool, PagedKvCache, type KvOverflow } from './paged-kv-cache.js';

const BT = 16;
const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** Runs `count` tokens through `seq` in steps of `step`, as a decoder would. */
function feed(cache: PagedKvCache, seq = cache.create(), count: number, step = 1) {
  const overflows: KvOverflow[] = [];
  let next = seq.length + seq.evicted;
  for (let done = 0; done < count; done += step) {
    const n = Math.min(step, count - done);
    const r = cache.reserve(seq, n);
    expect(r.start).toBe(seq.length);
    if (r.overflow) overflows.push(r.overflow);
    cache.append(seq, ids(next, n));
    next += n;
  }
  return { seq, overflows };
}

describe('paged KV cache', () => {
  it('allocates blocks as tokens arrive and frees them with the sequence', () => {
    const cache = new PagedKvCache(new BlockPool(8, 1024), BT, 100);
    const { seq } = feed(cache, undefined, 40, 7);
    expect(seq.blocks).toEqual([0, 1, 2]);
    expect(cache.stats()).toMatchObject({ usedBlocks: 3, freeBlocks: 5, bytesInUse: 3 * 1024 });
    expect(Array.from(cache.table(seq))).toEqual([0, 1, 2, 0, 0, 0, 0]);
    cache.remove(seq);
    expect(cache.stats()).toMatchObject({ usedBlocks: 0, sequences: 0 });
  });

  it('says the context is full, and the pool is exhausted, with what to do', () => {
    const cache = new PagedKvCache(new BlockPool(3, 1024), BT, 40);
    const { seq } = feed(cache, undefined, 48, 16);
    expect(() => cache.reserve(seq, 1)).toThrow(KvCacheFullError);
    expect(() => cache.reserve(seq, 1)).toThrow(/context is full \(48 \+ 1 tokens > 48\)/);
    const other = cache.create();
    expect(() => cache.reserve(other, 1)).toThrow(/all 3 KV-cache blocks are in use/);
    expect(cache.stats().usedBlocks).toBe(3);
  });

  it('forks by sharing full blocks and copying a partly filled one', () => {
    const pool = new BlockPool(10, 1024);
    const cache = new PagedKvCache(pool, BT, 160);
    const { seq: parent } = feed(cache, undefined, 40, 40);
    const { child, copies } = cache.fork(parent);
    expect(child.blocks.slice(0, 2)).toEqual(parent.blocks.slice(0, 2));
    expect(copies).toEqual([[parent.blocks[2], child.blocks[2]]]);
    expect(child.tokens).toEqual(parent.tokens);
    expect(pool.used).toBe(4);
    cache.remove(parent);
    // The shared blocks stay for the child.
    expect(pool.used).toBe(3);
    feed(cache, child, 30, 5);
    expect(child.tokens).toEqual(ids(0, 70));
    cache.remove(child);
    expect(pool.used).toBe(0);
  });

  it('keeps the sinks and the window, and every evicted token leaves exactly once', () => {
    const cache = new PagedKvCache(new BlockPool(6, 1024), BT, 0, {
      window: { window: 64, sinks: 4 },
    });
    expect(cache.capacity).toBe(80); // a sink block and four window blocks
    const { seq, overflows } = feed(cache, undefined, 1000, 3);
    expect(cache.stats().usedBlocks).toBeLessThanOrEqual(6);
    expect(seq.length).toBeLessThanOrEqual(80);
    expect(seq.tokens.slice(0, BT)).toEqual(ids(0, BT));
    expect(seq.tokens.slice(BT)).toEqual(ids(1000 - (seq.length - BT), seq.length - BT));
    // The events cover [16, 1000 - kept) once each, in order, and say which tokens left.
    let next = BT;
    for (const o of overflows) {
      expect(o.start).toBe(next);
      expect(o.tokens).toEqual(ids(o.start, o.end - o.start));
      next = o.end;
    }
    expect(next).toBe(1000 - (seq.length - BT));
    expect(seq.evicted + seq.length).toBe(1000);
    expect(cache.stats().evictedTokens).toBe(seq.evicted);
  });

  it('shifts the blocks after the sinks by the evicted count', () => {
    const cache = new PagedKvCache(new BlockPool(8, 1024), BT, 0, {
      window: { window: 48, sinks: 1 },
    });
    const seq = cache.create();
    cache.reserve(seq, 64);
    cache.append(seq, ids(0, 64));
    const before = [...seq.blocks];
    const r = cache.reserve(seq, 20);
    // 64 + 20 > 64: two blocks after the sink leave.
    expect(r.overflow).toMatchObject({ start: 16, end: 48 });
    expect(r.shift).toEqual({ delta: 32, blocks: [before[3]] });
    expect(r.start).toBe(32);
    expect(seq.blocks.slice(0, 2)).toEqual([before[0], before[3]]);
    expect(seq.blocks).toHaveLength(4);
    expect(() => cache.reserve(seq, 60)).toThrow(/pass at most 32 tokens a step/);
  });

  it('rolls back a step that was not written', () => {
    const pool = new BlockPool(4, 1024);
    const cache = new PagedKvCache(pool, BT, 64);
    const { seq } = feed(cache, undefined, 20, 20);
    cache.reserve(seq, 30);
    expect(pool.used).toBe(4);
    cache.truncate(seq, 20);
    expect(pool.used).toBe(2);
    expect(seq.length).toBe(20);
  });

  it('lends full blocks to a sequence whose prompt starts the same, and copies before writing', () => {
    const pool = new BlockPool(12, 1024);
    const cache = new PagedKvCache(pool, BT, 160);
    const { seq: a } = feed(cache, undefined, 40, 40);
    const b = cache.create();
    // Two full blocks match; the third is a's partial one, never lent.
    expect(cache.adopt(b, [...ids(0, 40), 99, 98, 97, 96, 95])).toBe(32);
    expect(b.blocks).toEqual(a.blocks.slice(0, 2));
    expect(pool.used).toBe(3);
    expect(cache.stats()).toMatchObject({ prefixLookups: 2, prefixHits: 2, prefixHitRate: 1 });
    // Another start: nothing to lend.
    expect(cache.adopt(cache.create(), [5, ...ids(1, 40)])).toBe(0);
    expect(cache.stats()).toMatchObject({ prefixLookups: 3, prefixHits: 2 });
    expect(cache.stats().prefixHitRate).toBeCloseTo(2 / 3, 12);
    // b rolls back into a shared block: writing there copies it first.
    cache.truncate(b, 20);
    const r = cache.reserve(b, 4);
    expect(r.copies).toEqual([[a.blocks[1], b.blocks[1]]]);
    expect(b.blocks[1]).not.toBe(a.blocks[1]);
    cache.append(b, [7, 7, 7, 7]);
    expect(a.tokens).toEqual(ids(0, 40));
  });

  it('forgets a prefix once its blocks are freed or rotated', () => {
    const pool = new BlockPool(12, 1024);
    const cache = new PagedKvCache(pool, BT, 160);
    const { seq: a } = feed(cache, undefined, 48, 16);
    cache.remove(a);
    expect(cache.adopt(cache.create(), ids(0, 60))).toBe(0);
    const windowed = new PagedKvCache(new BlockPool(12, 1024), BT, 0, {
      window: { window: 32, sinks: 1 },
    });
    const { seq: w } = feed(windowed, undefined, 48, 16);
    const shared = windowed.fork(w).child;
    // w's window shifts: the blocks it rotates are copied away from its fork first.
    const r = windowed.reserve(w, 16);
    expect(r.shift?.blocks).toHaveLength(1);
    expect(r.copies).toHaveLength(1);
    expect(r.copies[0][0]).toBe(shared.blocks[2]);
    // The fork still holds all three blocks as they were: a prefix for the next sequence.
    const adopter = windowed.create();
    expect(windowed.adopt(adopter, ids(0, 60))).toBe(48);
    // Once they are gone, only the sink block is still a prefix: w rotated the rest.
    windowed.remove(shared);
    windowed.remove(adopter);
    expect(windowed.adopt(windowed.create(), ids(0, 60))).toBe(16);
  });
});
