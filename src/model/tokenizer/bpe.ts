import { byteToUnicode } from './byte-unicode.js';
import { preTokenizer } from './pre-tokenizers.js';
import { specialTokens, splitSpecial, TokenType, type Tokenizer } from './tokenizer.js';

// Byte-level BPE ("gpt2" in GGUF), as llama.cpp's llm_tokenizer_bpe runs it: split the text
// with the model's pre-tokenizer regexes (pre-tokenizers.ts), map each piece's bytes to GPT-2's
// printable characters, then merge adjacent symbols lowest merge rank first.

/** llama.cpp's non-ASCII whitespace: its regexes see each as \v (see splitPieces). */
const WIDE_WHITESPACE = /[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/g;

/**
 * llama.cpp's unicode_regex_split: each regex splits every fragment into its matches and the
 * text between them, so nothing is dropped and later regexes refine earlier splits. As there,
 * the regexes run on a copy of the text with every non-ASCII whitespace character made \v:
 * still whitespace to \s, but never inside a literal range such as DeepSeek's U+0800-U+4E00.
 */
function splitPieces(text: string, regexes: readonly RegExp[]): string[] {
  const seen = text.replace(WIDE_WHITESPACE, '\v');
  let fragments: [number, number][] = [[0, text.length]];
  for (const regex of regexes) {
    const next: [number, number][] = [];
    for (const [start, end] of fragments) {
      let at = start;
      for (const match of seen.slice(start, end).matchAll(regex)) {
        const from = start + match.index;
        if (from > at) next.push([at, from]);
        if (match[0].length > 0) next.push([from, from + match[0].length]);
        at = from + match[0].length;
      }
      if (at < end) next.push([at, end]);
    }
    fragments = next;
  }
  return fragments.map(([start, end]) => text.slice(start, end));
}

export interface BpeVocab {
  tokens: readonly string[];
  types: ArrayLike<number>;
  merges: readonly string[];
  pre: string;
  bos?: number;
  eos?: number;
  addBos: boolean;
  addEos: boolean;
}

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  private readonly ids = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  /** Token texts matched in text before the pre-tokenizer: see specialTokens. */
  private readonly specials: ReturnType<typeof specialTokens>;
  private readonly split: RegExp[];
  private readonly ignoreMerges: boolean;
  private readonly byteChars = byteToUnicode();
  private readonly charBytes = new Map<string, number>();
  private readonly encoder = new TextEncoder();
  // ignoreBOM: a leading U+FEFF is text (Llama 2 has a token for it), not a byte-order mark.
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(private readonly vocab: BpeVocab) {
    this.vocabSize = vocab.tokens.length;
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    vocab.tokens.forEach((t, i) => {
      if (!this.ids.has(t)) this.ids.set(t, i);
    });
    this.specials = specialTokens(vocab.tokens, vocab.types);
    vocab.merges.forEach((m, rank) => this.ranks.set(m, rank));
    const pre = preTokenizer(vocab.pre);
    if (!pre) throw new RangeError(`unknown pre-tokenizer "${vocab.pre}"`);
    this.split = pre.regexes;
    this.ignoreMerges = pre.ignoreMerges;
    this.byteChars.forEach((c, b) => this.charBytes.set(c, b));
  }

  encode(text: string, { addSpecial = true, special = false } = {}): number[] {
    const out: number[] = [];
    if (addSpecial && this.addBos && this.bos !== undefined) out.push(this.bos);
    const parts = splitSpecial(text, special ? this.specials.all : this.specials.userDefined);
    for (const part of parts) {
      if (typeof part === 'number') out.push(part);
      else for (const piece of splitPieces(part, this.split)) this.encodePiece(piece, out);
    }
    if (addSpecial && this.addEos && this.eos !== undefined) out.push(this.eos);
    return out;
  }

  private encodePiece(piece: string, out: number[]): void {
    const chars = Array.from(this.encoder.encode(piece), (b) => this.byteChars[b]);
    const whole = chars.join('');
    if (this.ignoreMerges) {
      const id = this.ids.get(whole);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    // Symbols as a linked list; merge the lowest-ranked adjacent pair, leftmost on ties.
    const symbols = chars.slice();
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      symbols.splice(best, 2, symbols[best] + symbols[best + 1]);
    }
    for (const symbol of symbols) {
      const id = this.ids.get(symbol);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Not in the vocabulary: its characters one by one (each a byte token).
      for (const c of Array.from(symbol)) {
        const byteId = this.ids.get(c);
        if (byteId !== undefined) out.push(byteId);
      }
    }
  }

  tokenBytes(id: number, special = false): Uint8Array {
    const text = this.vocab.tokens[id];
    if (text === undefined) return new Uint8Array(0);
    const type = this.vocab.types[id];
    if (type === TokenType.CONTROL || type === TokenType.UNUSED) {
      return special ? this.encoder.encode(text) : new Uint8Array(0);
    }
    if (type === TokenType.USER_DEFINED) return this.encoder.encode(text);
    const bytes: number[] = [];
    for (const c of Array.from(text)) {
      const b = this.charBytes.get(c);
      if (b !== undefined) bytes.push(b);
      else bytes.push(...this.encoder.encode(c));
    }
    return Uint8Array.from(bytes);
  }

  decode(ids: readonly number[], { special = false } = {}): string {
    const parts = ids.map((id) => this.tokenBytes(id, special));
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return this.decoder.decode(all);
  }
}
