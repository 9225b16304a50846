import { KvCacheFullError } from '../errors.js';

// The host side of the paged KV cache: which physical blocks of the GPU's K/V buffers each
// sequence's tokens live in (its block table), who shares which block, and the sliding window
// with attention sinks that keeps a long-running agent's context bounded.
//
// A sequence's cache index i lives in block table[i / BT], slot i % BT (include/kv_cache.wgsl).
// Positions are cache indices: when the window is full, whole blocks after the sinks leave the
// table, the later blocks move up, and their keys are rotated back by the evicted count (the
// KvShift the caller applies on the GPU) — llama.cpp's context shift, StreamingLLM's window.

/** Keep the first `sinks` tokens and the latest `window` tokens; both round up to whole blocks. */
export interface SlidingWindow {
  window: number;
  sinks: number;
}

/** Tokens that left a sequence's window, for the coordinator to summarize into memory. */
export interface KvOverflow {
  sequence: number;
  /** [start, end) in the sequence's whole history (0 = its first token ever). */
  start: number;
  end: number;
  tokens: number[];
}

/**
 * What the cache does when a sequence needs a block and none is free: 'error' throws
 * KvCacheFullError; 'evict-idle' empties the sequences used least recently (never one in the
 * step being reserved) until enough blocks are free, and reports each (KvEviction).
 */
export type KvFullPolicy = 'error' | 'evict-idle';

/** A sequence emptied to free blocks for another (policy 'evict-idle'). */
export interface KvEviction {
  sequence: number;
  /** Tokens it held, now gone: its owner must run them again to go on. */
  tokens: number;
  /** Blocks that became free. */
  freedBlocks: number;
  /** The sequence that needed them, and how many it needed. */
  forSequence: number;
  neededBlocks: number;
}

/** Keys the caller must rotate back by `delta` positions: every layer's K in `blocks`. */
export interface KvShift {
  delta: number;
  blocks: number[];
}

/** What reserve() made room for. */
export interface KvReservation {
  /** Cache index (= position) of the first new token. */
  start: number;
  /**
   * Blocks to copy on the GPU before the step, every layer's K and V: [from, to]. A block that
   * other sequences share is copied before this one writes into it or rotates it.
   */
  copies: [number, number][];
  shift?: KvShift;
  overflow?: KvOverflow;
}

/** Fixed-size blocks with reference counts (shared prefixes hold one block for many). */
export class BlockPool {
  private readonly free: number[];
  private readonly refs: Uint32Array;

  constructor(
    readonly blocks: number,
    /** Bytes one block holds across every layer's K and V (for accounting). */
    readonly blockBytes: number,
  ) {
    this.refs = new Uint32Array(blocks);
    // Popped from the end: block 0 first.
    this.free = Array.from({ length: blocks }, (_, i) => blocks - 1 - i);
  }

  get used(): number {
    return this.blocks - this.free.length;
  }

  get available(): number {
    return this.free.length;
  }

  allocate(): number {
    const block = this.free.pop();
    if (block === undefined) {
      throw new KvCacheFullError(
        `all ${this.blocks} KV-cache blocks are in use: end a sequence, or load the model ` +
          'with a larger contextSize or a sliding window',
      );
    }
    this.refs[block] = 1;
    return block;
  }

  retain(block: number): void {
    if (this.refs[block] === 0) throw new RangeError(`block ${block} is not allocated`);
    this.refs[block]++;
  }

  release(block: number): void {
    if (this.refs[block] === 0) throw new RangeError(`block ${block} is not allocated`);
    if (--this.refs[block] === 0) this.free.push(block);
  }

  shared(block: number): boolean {
    return this.refs[block] > 1;
  }

  allocated(block: number): boolean {
    return this.refs[block] > 0;
  }
}

export class KvSequence {
  /** Physical block of each logical block: the sequence's block table. */
  readonly blocks: number[] = [];
  /** Token id at each cache index. */
  readonly tokens: number[] = [];
  /** Tokens evicted so far: a cache index past the sinks is history index - evicted. */
  evicted = 0;
  /** The cache's clock when a step last reserved room in this sequence (LRU eviction). */
  lastUsed = 0;
  constructor(readonly id: number) {}

  get length(): number {
    return this.tokens.length;
  }
}

export interface KvCacheStats {
  /** Blocks looked up in the prefix cache, and found there. */
  prefixLookups: number;
  prefixHits: number;
  blocks: number;
  usedBlocks: number;
  freeBlocks: number;
  bytesInUse: number;
  sequences: number;
  /** Tokens that left sliding windows. */
  evictedTokens: number;
  /** prefixHits / prefixLookups (0 before any lookup). */
  prefixHitRate: number;
  /** Sequences emptied to make room for others (policy 'evict-idle'), and their tokens. */
  idleEvictions: number;
  idleEvictedTokens: number;
}

export interface PagedKvCacheOptions {
  window?: SlidingWindow;
  /** When no block is free (default 'error'). */
  whenFull?: KvFullPolicy;
  /** Each sequence the 'evict-idle' policy empties, as it happens. */
  onEvict?: (eviction: KvEviction) => void;
}

/**
 * Tokens one sequence's cache holds: the sinks and the window, each in whole blocks, or
 * `maxTokens` rounded up to whole blocks without a window.
 */
export function cacheCapacity(blockTokens: number, maxTokens: number, window?: SlidingWindow) {
  const blocksOf = (tokens: number) => Math.ceil(tokens / blockTokens);
  const blocks = window ? blocksOf(window.sinks) + blocksOf(window.window) : blocksOf(maxTokens);
  return blocks * blockTokens;
}

export class PagedKvCache {
  private readonly sequences = new Map<number, KvSequence>();
  private nextId = 0;
  private evictedTokens = 0;
  /**
   * The prefix cache: a full block's key -> the block. A key is the block before it in its
   * sequence (or "root") and the block's tokens, so equal keys mean equal token prefixes at
   * equal positions; blocks leave when freed, rewritten or rotated.
   */
  private readonly prefixes = new Map<string, number>();
  private readonly keyOf = new Map<number, string>();
  private prefixLookups = 0;
  private prefixHits = 0;
  private idleEvictions = 0;
  private idleEvictedTokens = 0;
  private clock = 0;
  readonly window?: SlidingWindow;
  private readonly whenFull: KvFullPolicy;
  private readonly onEvict?: (eviction: KvEviction) => void;
  /** Tokens one sequence may hold: the window plus sinks, or `maxTokens` without a window. */
  readonly capacity: number;
  readonly sinkBlocks: number;

  constructor(
    readonly pool: BlockPool,
    readonly blockTokens: number,
    maxTokens: number,
    options: PagedKvCacheOptions = {},
  ) {
    const window = options.window;
    this.window = window;
    this.whenFull = options.whenFull ?? 'error';
    this.onEvict = options.onEvict;
    this.sinkBlocks = window ? Math.ceil(window.sinks / blockTokens) : 0;
    this.capacity = cacheCapacity(blockTokens, maxTokens, window);
    if (window && window.window < 2 * blockTokens) {
      throw new RangeError(
        `a sliding window keeps whole blocks of ${blockTokens} tokens: ` +
          `pass a window of at least ${2 * blockTokens}, got ${window.window}`,
      );
    }
  }

  /** The most tokens one reserve() always takes (a window keeps a block to fill). */
  get maxStep(): number {
    return this.window ? this.capacity - (this.sinkBlocks + 1) * this.blockTokens : this.capacity;
  }

  /** Blocks one sequence's table can hold. */
  get maxBlocks(): number {
    return this.capacity / this.blockTokens;
  }

  create(): KvSequence {
    const seq = new KvSequence(this.nextId++);
    this.sequences.set(seq.id, seq);
    return seq;
  }

  /**
   * A new sequence holding `parent`'s tokens. Full blocks are shared, not copied; a partly
   * filled last block is copied (`copies`: [from, to] physical blocks, every layer's K and V),
   * since the child's next token would write into it.
   */
  fork(parent: KvSequence): { child: KvSequence; copies: [number, number][] } {
    const child = this.create();
    const copies: [number, number][] = [];
    try {
      parent.blocks.forEach((block, i) => {
        const full = (i + 1) * this.blockTokens <= parent.length;
        if (full) {
          this.pool.retain(block);
          child.blocks.push(block);
        } else {
          // The child's next token writes into this block: its own copy.
          const copy = this.pool.allocate();
          child.blocks.push(copy);
          copies.push([block, copy]);
        }
      });
    } catch (error) {
      this.remove(child);
      throw error;
    }
    child.tokens.push(...parent.tokens);
    child.evicted = parent.evicted;
    return { child, copies };
  }

  remove(seq: KvSequence): void {
    for (const block of seq.blocks) this.release(block);
    seq.blocks.length = 0;
    seq.tokens.length = 0;
    this.sequences.delete(seq.id);
  }

  /**
   * Makes room for `count` new tokens after `seq`'s cached ones: evicts whole blocks after the
   * sinks when the window is full, then allocates blocks. The tokens are recorded by append()
   * once their K and V are written.
   */
  reserve(
    seq: KvSequence,
    count: number,
    busy: ReadonlySet<KvSequence> = new Set(),
  ): KvReservation {
    const BT = this.blockTokens;
    seq.lastUsed = ++this.clock;
    const reservation: KvReservation = { start: seq.length, copies: [] };
    const over = seq.length + count - this.capacity;
    if (over > 0) {
      if (!this.window) {
        throw new KvCacheFullError(
          `the context is full (${seq.length} + ${count} tokens > ${this.capacity}): ` +
            'start a new sequence, or load the model with a larger contextSize or a sliding window',
        );
      }
      const evict = Math.ceil(over / BT);
      // Only whole blocks between the sinks and the block being filled may go.
      const fullAfterSinks = Math.floor(seq.length / BT) - this.sinkBlocks;
      if (evict > fullAfterSinks) {
        throw new RangeError(
          `${count} tokens at once do not fit a window of ${this.capacity} tokens ` +
            `with ${seq.length} cached: pass at most ${this.maxStep} tokens a step`,
        );
      }
      const first = this.sinkBlocks * BT;
      const gone = seq.blocks.splice(this.sinkBlocks, evict);
      const tokens = seq.tokens.splice(first, evict * BT);
      for (const block of gone) this.release(block);
      // The kept blocks are rotated: shared ones are copied first, and none stays a prefix.
      for (let i = this.sinkBlocks; i < seq.blocks.length; i++) {
        seq.blocks[i] = this.own(seq, seq.blocks[i], reservation.copies, busy);
      }
      const start = first + seq.evicted;
      seq.evicted += tokens.length;
      this.evictedTokens += tokens.length;
      reservation.start = seq.length;
      reservation.overflow = { sequence: seq.id, start, end: start + tokens.length, tokens };
      reservation.shift = { delta: tokens.length, blocks: seq.blocks.slice(this.sinkBlocks) };
    }
    // The block the first new token lands in, when it is partly filled, must be this one's.
    const partial = Math.floor(seq.length / BT);
    if (seq.length % BT !== 0 && partial < seq.blocks.length) {
      seq.blocks[partial] = this.own(seq, seq.blocks[partial], reservation.copies, busy);
    }
    const needed = Math.ceil((seq.length + count) / BT) - seq.blocks.length;
    this.makeRoom(seq, needed, busy);
    const added: number[] = [];
    try {
      for (let i = 0; i < needed; i++) added.push(this.pool.allocate());
    } catch (error) {
      for (const block of added) this.release(block);
      throw error;
    }
    seq.blocks.push(...added);
    return reservation;
  }

  /**
   * Under 'evict-idle', empties the least recently used sequences (not `seq`, none in `busy`)
   * until `needed` blocks are free or none is left to empty.
   */
  private makeRoom(seq: KvSequence, needed: number, busy: ReadonlySet<KvSequence>): void {
    if (this.whenFull !== 'evict-idle') return;
    while (this.pool.available < needed) {
      let victim: KvSequence | undefined;
      for (const other of this.sequences.values()) {
        if (other === seq || busy.has(other) || other.length === 0) continue;
        if (!victim || other.lastUsed < victim.lastUsed) victim = other;
      }
      if (!victim) return; // allocation below throws KvCacheFullError
      const before = this.pool.available;
      const tokens = victim.length + victim.evicted;
      this.truncate(victim, 0);
      this.idleEvictions++;
      this.idleEvictedTokens += tokens;
      this.onEvict?.({
        sequence: victim.id,
        tokens,
        freedBlocks: this.pool.available - before,
        forSequence: seq.id,
        neededBlocks: needed,
      });
    }
  }

  /** Records tokens whose K and V are now in the cache, at the indices reserve() gave. */
  append(seq: KvSequence, tokens: readonly number[]): void {
    const BT = this.blockTokens;
    if (seq.length + tokens.length > seq.blocks.length * BT) {
      throw new RangeError(`append of ${tokens.length} tokens past what reserve() made room for`);
    }
    const before = Math.floor(seq.length / BT);
    seq.tokens.push(...tokens);
    // Blocks this filled become prefixes others may reuse, while positions are history's.
    if (seq.evicted > 0) return;
    for (let b = before; b < Math.floor(seq.length / BT); b++) {
      const key = this.key(seq, b);
      if (!this.prefixes.has(key) && !this.keyOf.has(seq.blocks[b])) {
        this.prefixes.set(key, seq.blocks[b]);
        this.keyOf.set(seq.blocks[b], key);
      }
    }
  }

  /**
   * Takes blocks other sequences filled with the same tokens at the same positions, for as much
   * of `prompt` as whole blocks cover past `seq`'s cached tokens (leaving at least one token to
   * run). `seq` must end on a block boundary and hold the start of `prompt`. Returns the tokens
   * now cached.
   */
  adopt(seq: KvSequence, prompt: readonly number[]): number {
    const BT = this.blockTokens;
    if (seq.evicted > 0 || seq.length % BT !== 0) return seq.length;
    for (let b = seq.length / BT; (b + 1) * BT < prompt.length; b++) {
      this.prefixLookups++;
      const tokens = prompt.slice(b * BT, (b + 1) * BT);
      const block = this.prefixes.get(
        `${b === 0 ? 'root' : seq.blocks[b - 1]}|${tokens.join(',')}`,
      );
      if (block === undefined) break;
      this.prefixHits++;
      this.pool.retain(block);
      seq.blocks.push(block);
      seq.tokens.push(...tokens);
    }
    return seq.length;
  }

  private key(seq: KvSequence, b: number): string {
    const BT = this.blockTokens;
    const before = b === 0 ? 'root' : String(seq.blocks[b - 1]);
    return `${before}|${seq.tokens.slice(b * BT, (b + 1) * BT).join(',')}`;
  }

  private unregister(block: number): void {
    const key = this.keyOf.get(block);
    if (key === undefined) return;
    this.keyOf.delete(block);
    this.prefixes.delete(key);
  }

  /**
   * A block this sequence is about to change: `block` itself when no one else holds it (and it
   * stops being a prefix), else a new block to copy it into (the others keep the original).
   */
  private own(
    seq: KvSequence,
    block: number,
    copies: [number, number][],
    busy: ReadonlySet<KvSequence>,
  ): number {
    if (!this.pool.shared(block)) {
      this.unregister(block);
      return block;
    }
    this.makeRoom(seq, 1, busy);
    const copy = this.pool.allocate();
    copies.push([block, copy]);
    this.pool.release(block);
    return copy;
  }

  private release(block: number): void {
    this.pool.release(block);
    if (this.pool.allocated(block)) return;
    this.unregister(block);
    // Keys that name the freed block as their predecessor would mean another one once it is
    // reused.
    for (const [key, next] of this.prefixes) {
      if (key.startsWith(`${block}|`)) {
        this.prefixes.delete(key);
        this.keyOf.delete(next);
      }
    }
  }

  /**
   * Drops `seq`'s tokens from cache index `from` on (a rejected or rolled-back step, a reused
   * prefix); at 0 the sequence starts over, its evictions forgotten.
   */
  truncate(seq: KvSequence, from: number): void {
    seq.tokens.length = Math.min(seq.tokens.length, from);
    if (seq.tokens.length === 0) seq.evicted = 0;
    const keep = Math.ceil(seq.tokens.length / this.blockTokens);
    for (const block of seq.blocks.splice(keep)) this.release(block);
  }

  /** The block table, padded to maxBlocks entries. */
  table(seq: KvSequence): Uint32Array {
    const table = new Uint32Array(this.maxBlocks);
    table.set(seq.blocks);
    return table;
  }

  stats(): KvCacheStats {
    return {
      prefixLookups: this.prefixLookups,
      prefixHits: this.prefixHits,
      blocks: this.pool.blocks,
      usedBlocks: this.pool.used,
      freeBlocks: this.pool.available,
      bytesInUse: this.pool.used * this.pool.blockBytes,
      sequences: this.sequences.size,
      evictedTokens: this.evictedTokens,
      prefixHitRate: this.prefixLookups === 0 ? 0 : this.prefixHits / this.prefixLookups,
      idleEvictions: this.idleEvictions,
      idleEvictedTokens: this.idleEvictedTokens,
    };
  }
}
