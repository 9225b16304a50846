import { GgufError } from '../../errors.js';
import type { GgufValue } from '../gguf/types.js';
import { BpeTokenizer } from './bpe.js';
import { preTokenizer, preTokenizerNames } from './pre-tokenizers.js';
import { SpmTokenizer } from './spm.js';
import type { Tokenizer } from './tokenizer.js';

export { BpeTokenizer } from './bpe.js';
export { SpmTokenizer } from './spm.js';
export { splitSpecial, TokenType, type Tokenizer } from './tokenizer.js';

type Metadata = ReadonlyMap<string, GgufValue>;

function get<T>(
  m: Metadata,
  key: string,
  check: (v: GgufValue) => v is GgufValue & T,
  what: string,
): T | undefined {
  const v = m.get(key);
  if (v === undefined) return undefined;
  if (!check(v)) throw new GgufError(`metadata "${key}"`, 0, `must be ${what}`);
  return v;
}

const isNumber = (v: GgufValue): v is number => typeof v === 'number';
const isBool = (v: GgufValue): v is boolean => typeof v === 'boolean';
const isString = (v: GgufValue): v is string => typeof v === 'string';
const isStrings = (v: GgufValue): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');
const isNumbers = (v: GgufValue): v is Float32Array | Int32Array =>
  v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint32Array;

/** The tokenizer a GGUF's tokenizer.ggml.* metadata describes. */
export function tokenizerFromGguf(m: Metadata): Tokenizer {
  const model = get(m, 'tokenizer.ggml.model', isString, 'a string');
  const tokens = get(m, 'tokenizer.ggml.tokens', isStrings, 'an array of strings');
  if (!model || !tokens) {
    throw new GgufError(
      'metadata "tokenizer.ggml.model"',
      0,
      'missing: this file carries no tokenizer',
    );
  }
  const types =
    get(m, 'tokenizer.ggml.token_type', isNumbers, 'an int32 array') ??
    new Int32Array(tokens.length).fill(1);
  if (types.length !== tokens.length) {
    throw new GgufError(
      'metadata "tokenizer.ggml.token_type"',
      0,
      `has ${types.length} entries for ${tokens.length} tokens`,
    );
  }
  const id = (key: string) => {
    const v = get(m, key, isNumber, 'a token id');
    if (v !== undefined && (v < 0 || v >= tokens.length)) {
      throw new GgufError(
        `metadata "${key}"`,
        0,
        `token id ${v} is outside the vocabulary of ${tokens.length}`,
      );
    }
    return v;
  };
  const bos = id('tokenizer.ggml.bos_token_id');
  const eos = id('tokenizer.ggml.eos_token_id');
  const addEos = get(m, 'tokenizer.ggml.add_eos_token', isBool, 'a bool') ?? false;
  if (model === 'llama') {
    const scores =
      get(m, 'tokenizer.ggml.scores', isNumbers, 'a float32 array') ??
      new Float32Array(tokens.length);
    return new SpmTokenizer({
      tokens,
      scores,
      types,
      bos,
      eos,
      unk: id('tokenizer.ggml.unknown_token_id'),
      addBos: get(m, 'tokenizer.ggml.add_bos_token', isBool, 'a bool') ?? true,
      addEos,
      addSpacePrefix: get(m, 'tokenizer.ggml.add_space_prefix', isBool, 'a bool') ?? true,
    });
  }
  if (model === 'gpt2') {
    const merges = get(m, 'tokenizer.ggml.merges', isStrings, 'an array of strings');
    if (!merges)
      throw new GgufError(
        'metadata "tokenizer.ggml.merges"',
        0,
        'missing: a BPE vocabulary needs its merges',
      );
    const pre = get(m, 'tokenizer.ggml.pre', isString, 'a string') ?? 'default';
    const rules = preTokenizer(pre);
    if (!rules) {
      throw new GgufError(
        'metadata "tokenizer.ggml.pre"',
        0,
        `pre-tokenizer "${pre}" is not supported yet (supported: ${preTokenizerNames.join(', ')})`,
      );
    }
    return new BpeTokenizer({
      tokens,
      types,
      merges,
      pre,
      bos,
      eos,
      // The file's word, else llama.cpp's default for the pre-tokenizer (Llama 3's adds BOS).
      addBos: get(m, 'tokenizer.ggml.add_bos_token', isBool, 'a bool') ?? rules.addBos,
      addEos,
    });
  }
  throw new GgufError(
    'metadata "tokenizer.ggml.model"',
    0,
    `tokenizer "${model}" is not supported (supported: llama, gpt2)`,
  );
}
