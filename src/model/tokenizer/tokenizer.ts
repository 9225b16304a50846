/** What every tokenizer offers; built from GGUF metadata by tokenizerFromGguf. */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  /** Whether a prompt starts with BOS (tokenizer.ggml.add_bos_token, or the model type's default). */
  readonly addBos: boolean;
  readonly addEos: boolean;
  /**
   * Token ids of `text`, as llama.cpp's llama_tokenize: user-defined token texts in it become
   * their ids, and with `special` control and unknown-type ones too (parse_special);
   * `addSpecial` adds BOS/EOS as the model says.
   */
  encode(text: string, options?: { addSpecial?: boolean; special?: boolean }): number[];
  /** The bytes of token ids as text; control tokens are skipped unless `special`. */
  decode(ids: readonly number[], options?: { special?: boolean }): string;
  /** The raw bytes one token stands for (streaming decoders join these). */
  tokenBytes(id: number, special?: boolean): Uint8Array;
}

/** GGUF token types (llama_token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/**
 * The token texts llama.cpp matches in text before the tokenizer proper (its special tokens
 * cache): `all` (control, user-defined and unknown-type tokens) when special tokens are parsed,
 * `userDefined` alone otherwise: user-defined tokens (`<tool_call>` in Qwen2.5's files) are
 * matched in plain text too.
 */
export function specialTokens(
  tokens: readonly string[],
  types: ArrayLike<number>,
): { all: Map<string, number>; userDefined: Map<string, number> } {
  const all = new Map<string, number>();
  const userDefined = new Map<string, number>();
  tokens.forEach((text, id) => {
    const type = types[id];
    if (type === TokenType.USER_DEFINED && !userDefined.has(text)) userDefined.set(text, id);
    const special =
      type === TokenType.CONTROL || type === TokenType.USER_DEFINED || type === TokenType.UNKNOWN;
    if (special && !all.has(text)) all.set(text, id);
  });
  return { all, userDefined };
}

/**
 * Splits `text` around the special tokens that occur in it, longest first at each position, as
 * llama.cpp's tokenizer_st_partition does. Returns text pieces and token ids in order.
 */
export function splitSpecial(
  text: string,
  specials: ReadonlyMap<string, number>,
): (string | number)[] {
  if (specials.size === 0 || text.length === 0) return text ? [text] : [];
  const byLength = [...specials.keys()]
    .filter((s) => s.length > 0)
    .sort((a, b) => b.length - a.length);
  const out: (string | number)[] = [];
  let start = 0;
  let i = 0;
  while (i < text.length) {
    const hit = byLength.find((s) => text.startsWith(s, i));
    if (hit) {
      if (i > start) out.push(text.slice(start, i));
      out.push(specials.get(hit)!);
      i += hit.length;
      start = i;
    } else i++;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}
