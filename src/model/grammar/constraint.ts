import { maskWords } from '../../kernels/token-mask.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { JsonMatcher, type JsonSchema } from './json-schema.js';

// A grammar-constrained generation's side of sampling: before each token, the bitset of tokens
// that keep the output valid; after it, the grammar advanced by the token's bytes; and, when
// the token budget runs out, the tokens that complete the output in the fewest.

/** OpenAI's response_format, as generate() takes it. */
export type ResponseFormat =
  { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; schema: JsonSchema };

interface TrieNode {
  children: Map<number, TrieNode>;
  /** Tokens whose bytes end here. */
  tokens: number[];
}

const tries = new WeakMap<Tokenizer, TrieNode>();

/** Every token's bytes in a trie, so tokens sharing a prefix are matched once (per tokenizer). */
function vocabTrie(tokenizer: Tokenizer): TrieNode {
  let root = tries.get(tokenizer);
  if (root) return root;
  root = { children: new Map(), tokens: [] };
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    // Control tokens have no bytes: never part of the output.
    const bytes = tokenizer.tokenBytes(id);
    if (bytes.length === 0) continue;
    let node = root;
    for (const b of bytes) {
      let child = node.children.get(b);
      if (!child) node.children.set(b, (child = { children: new Map(), tokens: [] }));
      node = child;
    }
    node.tokens.push(id);
  }
  tries.set(tokenizer, root);
  return root;
}

export class JsonConstraint {
  private matcher: JsonMatcher;

  constructor(
    private readonly tokenizer: Tokenizer,
    format: Exclude<ResponseFormat, { type: 'text' }>,
  ) {
    this.matcher = JsonMatcher.start(
      format.type === 'json_object' ? { type: 'object' } : format.schema,
    );
  }

  /** Tokens allowed next, as a bitset (maskWords(vocabSize) words; 1 = allowed). */
  mask(): Uint32Array {
    const bits = new Uint32Array(maskWords(this.tokenizer.vocabSize));
    const walk = (node: TrieNode, matcher: JsonMatcher) => {
      for (const [b, child] of node.children) {
        const next = matcher.feed(b);
        if (!next) continue;
        for (const t of child.tokens) bits[t >> 5] |= 1 << (t & 31);
        walk(child, next);
      }
    };
    walk(vocabTrie(this.tokenizer), this.matcher);
    return bits;
  }

  /** Advances past a sampled token; a token the mask forbade is a bug, and says so. */
  accept(token: number): void {
    const next = this.matcher.feedBytes(this.tokenizer.tokenBytes(token));
    if (!next) throw new Error(`token ${token} does not fit the grammar: the mask was not applied`);
    this.matcher = next;
  }

  /** The output is a complete document. */
  get done(): boolean {
    return this.matcher.complete;
  }

  /**
   * The fewest tokens that complete the output (forced when the budget runs out): a character
   * cut mid-way is finished with single-byte tokens, the rest (ASCII) tokenized.
   */
  finish(): number[] {
    const bytes = this.matcher.completion();
    let i = 0;
    const tokens: number[] = [];
    const root = vocabTrie(this.tokenizer);
    while (i < bytes.length && bytes[i] >= 0x80) {
      const byte = root.children.get(bytes[i])?.tokens[0];
      if (byte === undefined) return [];
      tokens.push(byte);
      i++;
    }
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes.subarray(i));
    return text ? [...tokens, ...this.tokenizer.encode(text, { addSpecial: false })] : tokens;
  }
}
