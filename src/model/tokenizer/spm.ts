import { specialTokens, splitSpecial, TokenType, type Tokenizer } from './tokenizer.js';

// SentencePiece-style tokenization ("llama" in GGUF), as llama.cpp's llm_tokenizer_spm runs it:
// spaces become ▁ (with one in front of each run of text when add_space_prefix), then adjacent
// symbols merge highest score first while the merged piece is in the vocabulary; what stays
// outside it falls back to <0xXX> byte tokens.

const SPACE = '\u2581';

export interface SpmVocab {
  tokens: readonly string[];
  scores: ArrayLike<number>;
  types: ArrayLike<number>;
  bos?: number;
  eos?: number;
  unk?: number;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
}

export class SpmTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  private readonly ids = new Map<string, number>();
  /** Token texts matched in text before the tokenizer: see specialTokens. */
  private readonly specials: ReturnType<typeof specialTokens>;
  private readonly byteIds: (number | undefined)[] = new Array(256);
  private readonly encoder = new TextEncoder();
  // ignoreBOM: a leading U+FEFF is text (Llama 2 has a token for it), not a byte-order mark.
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(private readonly vocab: SpmVocab) {
    this.vocabSize = vocab.tokens.length;
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    this.specials = specialTokens(vocab.tokens, vocab.types);
    vocab.tokens.forEach((t, i) => {
      if (!this.ids.has(t)) this.ids.set(t, i);
      const type = vocab.types[i];
      const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
      if (type === TokenType.BYTE && byte) this.byteIds[parseInt(byte[1], 16)] = i;
    });
  }

  encode(text: string, { addSpecial = true, special = false } = {}): number[] {
    const out: number[] = [];
    if (addSpecial && this.addBos && this.bos !== undefined) out.push(this.bos);
    let afterSpecial = true; // a space prefix before the first run of text, and after specials
    for (const part of splitSpecial(
      text,
      special ? this.specials.all : this.specials.userDefined,
    )) {
      if (typeof part === 'number') {
        out.push(part);
        afterSpecial = true;
        continue;
      }
      if (part.length === 0) continue;
      const prefixed = this.vocab.addSpacePrefix && afterSpecial ? ` ${part}` : part;
      this.encodeText(prefixed.replaceAll(' ', SPACE), out);
      afterSpecial = false;
    }
    if (addSpecial && this.addEos && this.eos !== undefined) out.push(this.eos);
    return out;
  }

  private encodeText(text: string, out: number[]): void {
    const symbols = Array.from(text);
    for (;;) {
      let best = -1;
      let bestScore = -Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const id = this.ids.get(symbols[i] + symbols[i + 1]);
        if (id === undefined) continue;
        const score = this.vocab.scores[id];
        if (score > bestScore) {
          bestScore = score;
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
      for (const b of this.encoder.encode(symbol)) {
        const byteId = this.byteIds[b] ?? this.vocab.unk;
        if (byteId !== undefined) out.push(byteId);
      }
    }
  }

  tokenBytes(id: number, special = false): Uint8Array {
    const text = this.vocab.tokens[id];
    if (text === undefined) return new Uint8Array(0);
    const type = this.vocab.types[id];
    if (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.UNUSED) {
      return special ? this.encoder.encode(text) : new Uint8Array(0);
    }
    if (type === TokenType.BYTE) {
      const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      if (byte) return Uint8Array.of(parseInt(byte[1], 16));
    }
    return this.encoder.encode(text.replaceAll(SPACE, ' '));
  }

  decode(ids: readonly number[], { special = false } = {}): string {
    const parts = ids.map((id) => this.tokenBytes(id, special));
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    const text = this.decoder.decode(all);
    // The space prefix encode added is not part of the text.
    return this.vocab.addSpacePrefix && text.startsWith(' ') ? text.slice(1) : text;
  }
}
