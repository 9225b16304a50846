import type { GgufValue } from '../gguf/types.js';
import { TokenType } from '../tokenizer/tokenizer.js';

// What a chat template needs from a GGUF's tokenizer.ggml.* metadata: the texts of the special
// tokens it may print (bos_token, eos_token, ...) and which end-of-turn tokens exist. Read
// straight from the metadata rather than through tokenizerFromGguf, so a template can be built
// without building a 150k-entry BPE tokenizer, and for files whose tokenizer is not supported.

type Metadata = ReadonlyMap<string, GgufValue>;

/** The special-token texts a chat template sees, and a lookup into the vocabulary. */
export interface ChatVocabulary {
  readonly bos?: string;
  readonly eos?: string;
  readonly unk?: string;
  readonly pad?: string;
  /** The id of the end-of-sequence token, whose text is `eos`. */
  readonly eosId?: number;
  /** The id of a special (control or user-defined) token with exactly this text, if any. */
  specialTokenId(text: string): number | undefined;
}

const isStrings = (v: GgufValue | undefined): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');

/** The chat-relevant part of a GGUF vocabulary; an empty one when the file has no tokenizer. */
export function chatVocabularyFromGguf(m: Metadata): ChatVocabulary {
  const list = m.get('tokenizer.ggml.tokens');
  const tokens: readonly string[] = isStrings(list) ? list : [];
  const types = m.get('tokenizer.ggml.token_type');
  const id = (key: string): number | undefined => {
    const v = m.get(key);
    return typeof v === 'number' && v >= 0 && v < tokens.length ? v : undefined;
  };
  const text = (key: string): string | undefined => {
    const v = id(key);
    return v === undefined ? undefined : tokens[v];
  };
  return {
    bos: text('tokenizer.ggml.bos_token_id'),
    eos: text('tokenizer.ggml.eos_token_id'),
    unk: text('tokenizer.ggml.unknown_token_id'),
    pad: text('tokenizer.ggml.padding_token_id'),
    eosId: id('tokenizer.ggml.eos_token_id'),
    specialTokenId(t) {
      const i = tokens.indexOf(t);
      if (i < 0) return undefined;
      // Files without token types (old converters) get every token counted, as llama.cpp does.
      if (!(types instanceof Int32Array || types instanceof Uint32Array)) return i;
      return types[i] === TokenType.CONTROL || types[i] === TokenType.USER_DEFINED ? i : undefined;
    },
  };
}
