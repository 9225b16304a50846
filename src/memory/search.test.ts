import { describe, expect, it } from 'vitest';
import { memoryPrompt } from './prompt.js';
import { MemoryIndex, words } from './search.js';

// Retrieval without a database: the index and the prompt it feeds (IndexedDB itself is tested
// in Chromium, e2e/memory.spec.ts).

const day = 24 * 3600 * 1000;
const now = 100 * day;

describe('memory index', () => {
  it('terms: stopwords out, plurals and -ing/-ed off', () => {
    expect(words('Where does my sister live? She lives in Lisbon, planning trips.')).toEqual([
      'sister',
      'live',
      'live',
      'lisbon',
      'plann',
      'trip',
    ]);
  });

  it('ranks by BM25, then recency; vectors count where the query has one', () => {
    const index = new MemoryIndex();
    index.add({
      kind: 'fact',
      id: 1,
      text: 'The user likes green tea in the morning.',
      at: now - day,
    });
    index.add({
      kind: 'fact',
      id: 2,
      text: 'Green tea, green tea, always green tea.',
      at: now - 30 * day,
    });
    index.add({ kind: 'episode', id: 3, text: 'We talked about the weather.', at: now });
    index.add({ kind: 'summary', id: 4, text: 'A long talk about coffee.', at: now - day });
    const hits = index.search('green tea', { now, k: 3 });
    expect(hits.map((h) => h.id)).toEqual([2, 1]);
    expect(hits[0].parts.text).toBe(1);
    expect(hits[0].matched).toEqual(['green', 'tea']);
    // The same text, newer: recency decides.
    index.add({ kind: 'fact', id: 5, text: 'Green tea, green tea, always green tea.', at: now });
    expect(index.search('green tea', { now, k: 1 })[0].id).toBe(5);
    // Embeddings: the coffee summary is nearest the query vector though no word matches.
    index.setVector('summary', 4, Float32Array.of(1, 0, 0), 'm');
    index.setVector('fact', 1, Float32Array.of(0, 1, 0), 'm');
    const byVector = index.search('espresso', {
      now,
      embedding: { model: 'm', vector: Float32Array.of(0.9, 0.1, 0) },
    });
    expect(byVector[0]).toMatchObject({ id: 4, kind: 'summary' });
    expect(byVector[0].parts.vector).toBeCloseTo(0.994, 3);
    // Kinds filter, and removal.
    expect(index.search('green tea', { now, kinds: ['episode'] })).toEqual([]);
    index.remove('fact', 5);
    index.remove('fact', 2);
    expect(index.search('green tea', { now }).map((h) => h.id)).toEqual([1]);
    expect(index.size).toBe(3);
  });

  it('the prompt takes the best hits that fit the budget and says why each is there', () => {
    const index = new MemoryIndex();
    for (let i = 0; i < 20; i++) {
      index.add({
        kind: 'fact',
        id: i,
        text: `Fact ${i} about the garden and its roses.`,
        at: now - i * day,
      });
    }
    const hits = index.search('garden roses', { now, k: 10 });
    const count = (t: string) => Math.ceil(t.length / 4);
    const prompt = memoryPrompt(hits, 100, count, now);
    expect(prompt.included.length).toBeGreaterThan(0);
    expect(prompt.included.length).toBeLessThan(10);
    expect(prompt.omitted).toBe(10 - prompt.included.length);
    expect(prompt.tokens).toBeLessThanOrEqual(100);
    expect(count(prompt.text)).toBeLessThanOrEqual(100);
    expect(prompt.text.split('\n')[0]).toBe(
      `Relevant memory (${prompt.included.length} of 10 retrieved):`,
    );
    expect(prompt.text).toContain('[fact #0, score');
    expect(prompt.text).toContain('matched "garden", "rose"; just now]');
    expect(memoryPrompt([], 100, count)).toEqual({ text: '', included: [], omitted: 0, tokens: 0 });
  });
});
