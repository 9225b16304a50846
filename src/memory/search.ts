import type { MemoryKind } from './schema.js';

// Hybrid retrieval: BM25 over the words of every remembered text, cosine similarity over
// embeddings where both the query and the item have one (of the same model), and a recency
// weight; the scores are normalized and mixed, the top k returned with why each was chosen.

/** One remembered item as the index holds it. */
export interface IndexedItem {
  kind: MemoryKind;
  id: number;
  text: string;
  at: number;
}

export interface SearchOptions {
  /** Items to return (default 5). */
  k?: number;
  /** The query's embedding, compared with items' embeddings of the same model only. */
  embedding?: { model: string; vector: Float32Array };
  /** Ages count from here (default Date.now()). */
  now?: number;
  /** Recency halves every this many ms (default a week). */
  halfLifeMs?: number;
  /** Weights of the text, vector and recency scores (default 0.6, 0.3, 0.1). */
  weights?: { text?: number; vector?: number; recency?: number };
  /** Kinds to search (default all). */
  kinds?: readonly MemoryKind[];
}

export interface SearchHit {
  kind: MemoryKind;
  id: number;
  text: string;
  at: number;
  score: number;
  /** BM25 normalized to the best hit (0..1), cosine (-1..1, absent without vectors), recency. */
  parts: { text: number; vector?: number; recency: number };
  /** The query words the item contains. */
  matched: string[];
}

const BM25_K1 = 1.2;
const BM25_B = 0.75;
const WEEK = 7 * 24 * 3600 * 1000;

/** English function words: they match everything and say nothing. */
const STOPWORDS = new Set(
  (
    'a an the and or but if of at by for with about to from in on into over under is are was ' +
    'were be been being am do does did have has had i me my we our you your he him his she her ' +
    'it its they them their this that these those what which who whom where when why how not ' +
    'no so than too very can will just s t'
  ).split(' '),
);

/** A light English stemmer: plural and -ing/-ed endings off, so "lives" finds "live". */
function stem(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('sses')) return word.slice(0, -2);
  if (word.length > 5 && word.endsWith('ing')) return word.slice(0, -3);
  if (word.length > 4 && word.endsWith('ed')) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !/(ss|us|is)$/.test(word)) return word.slice(0, -1);
  return word;
}

/** The terms of a text: lowercase words of letters and digits (any script), stemmed, no stopwords. */
export function words(text: string): string[] {
  const all = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return all.filter((w) => !STOPWORDS.has(w)).map(stem);
}

const key = (kind: MemoryKind, id: number) => `${kind}:${id}`;

/** An in-memory inverted index of one agent's memory, kept in step with its writes. */
export class MemoryIndex {
  private readonly items = new Map<string, IndexedItem & { length: number }>();
  /** term -> item key -> occurrences */
  private readonly postings = new Map<string, Map<string, number>>();
  private readonly vectors = new Map<string, { model: string; vector: Float32Array }>();
  private totalLength = 0;

  get size(): number {
    return this.items.size;
  }

  add(item: IndexedItem): void {
    const k = key(item.kind, item.id);
    if (this.items.has(k)) this.remove(item.kind, item.id);
    const terms = words(item.text);
    this.items.set(k, { ...item, length: terms.length });
    this.totalLength += terms.length;
    const counts = new Map<string, number>();
    for (const t of terms) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const [t, n] of counts) {
      let posting = this.postings.get(t);
      if (!posting) this.postings.set(t, (posting = new Map()));
      posting.set(k, n);
    }
  }

  /** An item's embedding by `model` (one per item: a newer one replaces it). */
  setVector(kind: MemoryKind, id: number, vector: Float32Array, model: string): void {
    this.vectors.set(key(kind, id), { model, vector });
  }

  remove(kind: MemoryKind, id: number): void {
    const k = key(kind, id);
    const item = this.items.get(k);
    if (!item) return;
    this.items.delete(k);
    this.vectors.delete(k);
    this.totalLength -= item.length;
    for (const t of new Set(words(item.text))) {
      const posting = this.postings.get(t);
      posting?.delete(k);
      if (posting?.size === 0) this.postings.delete(t);
    }
  }

  search(query: string, options: SearchOptions = {}): SearchHit[] {
    const k = options.k ?? 5;
    const now = options.now ?? Date.now();
    const halfLife = options.halfLifeMs ?? WEEK;
    const w = { text: 0.6, vector: 0.3, recency: 0.1, ...options.weights };
    const kinds = options.kinds && new Set(options.kinds);
    const n = this.items.size;
    if (n === 0 || k <= 0) return [];
    const avgLength = this.totalLength / n || 1;
    // BM25 over the query's distinct words.
    const bm25 = new Map<string, number>();
    const matched = new Map<string, string[]>();
    for (const term of new Set(words(query))) {
      const posting = this.postings.get(term);
      if (!posting) continue;
      const idf = Math.log(1 + (n - posting.size + 0.5) / (posting.size + 0.5));
      for (const [itemKey, tf] of posting) {
        const item = this.items.get(itemKey)!;
        if (kinds && !kinds.has(item.kind)) continue;
        const norm = tf + BM25_K1 * (1 - BM25_B + (BM25_B * item.length) / avgLength);
        bm25.set(itemKey, (bm25.get(itemKey) ?? 0) + (idf * tf * (BM25_K1 + 1)) / norm);
        let m = matched.get(itemKey);
        if (!m) matched.set(itemKey, (m = []));
        m.push(term);
      }
    }
    // Candidates: every text match, and every item with a vector when the query has one.
    const candidates = new Set(bm25.keys());
    const q = options.embedding?.vector;
    const qNorm = q ? Math.hypot(...q) : 0;
    const comparable = (v: { model: string; vector: Float32Array } | undefined) =>
      q && qNorm > 0 && v?.model === options.embedding!.model && v.vector.length === q.length
        ? v.vector
        : undefined;
    if (q && qNorm > 0) {
      for (const [itemKey, v] of this.vectors) {
        const item = this.items.get(itemKey);
        if (item && (!kinds || kinds.has(item.kind)) && comparable(v)) candidates.add(itemKey);
      }
    }
    let best = 0;
    for (const v of bm25.values()) if (v > best) best = v;
    best ||= 1;
    // Score every candidate, keep the k best (insertion into a short sorted list), and only
    // then build their hits.
    const top: { key: string; score: number; at: number; vector?: number }[] = [];
    for (const itemKey of candidates) {
      const item = this.items.get(itemKey)!;
      const text = (bm25.get(itemKey) ?? 0) / best;
      const recency = Math.pow(0.5, Math.max(0, now - item.at) / halfLife);
      const v = comparable(this.vectors.get(itemKey));
      const vector = v ? cosine(q!, qNorm, v) : undefined;
      const score =
        vector === undefined
          ? (w.text * text + w.recency * recency) / (w.text + w.recency)
          : (w.text * text + w.vector * Math.max(0, vector) + w.recency * recency) /
            (w.text + w.vector + w.recency);
      if (top.length === k) {
        const last = top[k - 1];
        if (score < last.score || (score === last.score && item.at <= last.at)) continue;
        top.pop();
      }
      let i = top.length;
      while (
        i > 0 &&
        (top[i - 1].score < score || (top[i - 1].score === score && top[i - 1].at < item.at))
      )
        i--;
      top.splice(i, 0, { key: itemKey, score, at: item.at, vector });
    }
    return top.map(({ key: itemKey, score, vector }) => {
      const item = this.items.get(itemKey)!;
      return {
        kind: item.kind,
        id: item.id,
        text: item.text,
        at: item.at,
        score,
        parts: {
          text: (bm25.get(itemKey) ?? 0) / best,
          vector,
          recency: Math.pow(0.5, Math.max(0, now - item.at) / halfLife),
        },
        matched: matched.get(itemKey) ?? [],
      };
    });
  }
}

function cosine(q: Float32Array, qNorm: number, v: Float32Array): number {
  let dot = 0;
  let vv = 0;
  for (let i = 0; i < q.length; i++) {
    dot += q[i] * v[i];
    vv += v[i] * v[i];
  }
  return vv > 0 ? dot / (qNorm * Math.sqrt(vv)) : 0;
}
