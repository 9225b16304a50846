import { byteToUnicode } from '../tokenizer/byte-unicode.js';

// A small byte-level BPE vocabulary (GPT-2 style) learned, deterministically, from a built-in
// corpus: what the generated test models carry, so tokenizers are tested against llama.cpp on
// a real merge table rather than a hand-written one.

/** Text the merges are learned from: prose, code, numbers, whitespace runs, unicode. */
export const BPE_CORPUS = [
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on.',
  'Agents that live in the browser remember what they did and why they did it.',
  'function add(a, b) {\n  return a + b;\n}\nconst total = add(40, 2);\n',
  'for (let i = 0; i < 10; i++) {\n    console.log(i * i);\n}\n',
  'In 2026 there were 1234567 tokens, 3.14159 of them irrational and 42 of them answers.',
  'Hello, world! Hello again, world. How are you today? I am fine, thank you.',
  'Café, naïve, résumé — déjà vu. Straße. Ελληνικά. Русский текст. 日本語のテキスト。中文文本。',
  'Emoji: 🙂🚀🦙 and flags 🇫🇷, tabs\tand  double  spaces,   and\n\n\nnewlines.',
  "It's, we're, they've, I'll, she'd: contractions everywhere, isn't it?",
  '<html><body><p class="x">Markup &amp; entities</p></body></html>',
].join('\n');

/** A simple pre-split for learning: words with their leading space, digits, punctuation runs. */
const SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * Learns `mergeCount` merges over BPE_CORPUS: the most frequent adjacent pair each round, ties
 * to the smaller pair in code-unit order. Returns tokens (the 256 byte symbols, then each
 * merge's result) and merges ("left right").
 */
export function learnBpe(mergeCount: number): { tokens: string[]; merges: string[] } {
  const bytes = byteToUnicode();
  const encoder = new TextEncoder();
  const words = new Map<string, number>();
  for (const piece of BPE_CORPUS.match(SPLIT) ?? []) {
    const symbols = Array.from(encoder.encode(piece), (b) => bytes[b]).join('\u0000');
    words.set(symbols, (words.get(symbols) ?? 0) + 1);
  }
  let corpus = [...words.entries()].map(([w, n]) => ({ symbols: w.split('\u0000'), n }));
  const tokens = [...bytes];
  const merges: string[] = [];
  for (let round = 0; round < mergeCount; round++) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of corpus) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best = '';
    let bestCount = 0;
    for (const [key, count] of pairs) {
      if (count > bestCount || (count === bestCount && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (bestCount < 2) break;
    const [left, right] = best.split(' ');
    merges.push(best);
    // Two merges can spell the same string ("ab"+"c", "a"+"bc"): one token for it.
    if (!tokens.includes(left + right)) tokens.push(left + right);
    corpus = corpus.map(({ symbols, n }) => {
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else merged.push(symbols[i]);
      }
      return { symbols: merged, n };
    });
  }
  return { tokens, merges };
}

/**
 * A SentencePiece-style vocabulary from the same corpus: <unk>, <s>, </s>, the 256 <0xXX> byte
 * tokens, every character of the corpus, then the learned BPE pieces that are whole UTF-8
 * (spaces as ▁), scored so earlier merges win. Returns tokens, scores and GGUF token types.
 */
export function learnSpm(mergeCount: number): {
  tokens: string[];
  scores: number[];
  types: number[];
} {
  const { tokens: bpe } = learnBpe(mergeCount);
  const bytes = byteToUnicode();
  const charBytes = new Map(bytes.map((c, b) => [c, b]));
  const strict = new TextDecoder('utf-8', { fatal: true });
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6);
  }
  const pieces: string[] = [];
  const add = (piece: string) => {
    const p = piece.replaceAll(' ', '\u2581');
    if (p && !pieces.includes(p)) pieces.push(p);
  };
  for (const c of new Set(Array.from(BPE_CORPUS))) if (c !== '\n' && c !== '\t') add(c);
  for (const t of bpe.slice(256)) {
    try {
      add(strict.decode(Uint8Array.from(Array.from(t), (c) => charBytes.get(c) ?? 0)));
    } catch {
      // A merge that splits a multi-byte character is no SentencePiece piece.
    }
  }
  const scores = tokens.map(() => 0);
  pieces.forEach((p, i) => {
    tokens.push(p);
    types.push(1);
    // Longer pieces (later merges) score lower, as SentencePiece's log-probabilities do.
    scores.push(-i);
  });
  return { tokens, scores, types };
}
