import { byteToUnicode } from './byte-unicode.js';
import { splitSpecial, TokenType, type Tokenizer } from './tokenizer.js';

// Byte-level BPE ("gpt2" in GGUF), as llama.cpp's llm_tokenizer_bpe runs it: split the text
// with the model's pre-tokenizer regex, map each piece's bytes to GPT-2's printable characters,
// then merge adjacent symbols lowest merge rank first.

/**
 * Pre-tokenizers by tokenizer.ggml.pre, as llama.cpp's llama-vocab.cpp lists them: regexes
 * applied in turn, each splitting every fragment the previous ones left (see splitPieces).
 */
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const PRE_TOKENIZERS: Record<string, { patterns: string[]; ignoreMerges: boolean }> = {
  // Llama 3 (and SmolLM's llama-bpe family): digits in runs of up to three.
  llama3: {
    patterns: [
      `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    ],
    ignoreMerges: true,
  },
  // Qwen2: as Llama 3, but every digit alone.
  qwen2: {
    patterns: [
      `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
    ],
    ignoreMerges: false,
  },
  // llama.cpp's default for BPE vocabularies: punctuation runs, GPT-2's split, digit runs,
  // then digits in threes.
  default: {
    patterns: [
      '[\\p{P}\\$\\+<=>\\^~\\|]+',
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
      '\\p{N}+',
      '[0-9][0-9][0-9]',
    ],
    ignoreMerges: false,
  },
  // GPT-2's own.
  gpt2: {
    patterns: ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"],
    ignoreMerges: false,
  },
};

/**
 * llama.cpp's unicode_regex_split: each regex splits every fragment into its matches and the
 * text between them, so nothing is dropped and later regexes refine earlier splits.
 */
function splitPieces(text: string, regexes: readonly RegExp[]): string[] {
  let fragments = [text];
  for (const regex of regexes) {
    const next: string[] = [];
    for (const fragment of fragments) {
      let at = 0;
      for (const match of fragment.matchAll(regex)) {
        if (match.index > at) next.push(fragment.slice(at, match.index));
        if (match[0].length > 0) next.push(match[0]);
        at = match.index + match[0].length;
      }
      if (at < fragment.length) next.push(fragment.slice(at));
    }
    fragments = next;
  }
  return fragments;
}

const PRE_ALIASES: Record<string, string> = {
  'llama-bpe': 'llama3',
  llama3: 'llama3',
  smollm: 'llama3',
  qwen2: 'qwen2',
  'deepseek-r1-qwen': 'qwen2',
  default: 'default',
  'gpt-2': 'gpt2',
};

/** Whether agentgpu knows the pre-tokenizer a GGUF names. */
export function knownPreTokenizer(pre: string): boolean {
  return pre in PRE_ALIASES;
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
  private readonly specials = new Map<string, number>();
  private readonly split: RegExp[];
  private readonly ignoreMerges: boolean;
  private readonly byteChars = byteToUnicode();
  private readonly charBytes = new Map<string, number>();
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(private readonly vocab: BpeVocab) {
    this.vocabSize = vocab.tokens.length;
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    vocab.tokens.forEach((t, i) => {
      if (!this.ids.has(t)) this.ids.set(t, i);
      const type = vocab.types[i];
      if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) this.specials.set(t, i);
    });
    vocab.merges.forEach((m, rank) => this.ranks.set(m, rank));
    const pre = PRE_TOKENIZERS[PRE_ALIASES[vocab.pre] ?? 'default'];
    this.split = pre.patterns.map((p) => new RegExp(p, 'gu'));
    this.ignoreMerges = pre.ignoreMerges;
    this.byteChars.forEach((c, b) => this.charBytes.set(c, b));
  }

  encode(text: string, { addSpecial = true, special = false } = {}): number[] {
    const out: number[] = [];
    if (addSpecial && this.addBos && this.bos !== undefined) out.push(this.bos);
    const parts = special ? splitSpecial(text, this.specials) : [text];
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
