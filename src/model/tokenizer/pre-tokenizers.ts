// BPE pre-tokenizers as llama.cpp defines them (llama-vocab.cpp): each `tokenizer.ggml.pre` name
// a GGUF converter writes maps to one rule set (the regexes llm_tokenizer_bpe applies in turn)
// and the flags llama.cpp sets for that name (ignore_merges, add_bos). Whitespace is llama.cpp's
// (its unicode tables), not JavaScript's: see toJsRegex.

/** A set of regexes, applied in turn, each splitting every fragment the previous ones left. */
type RuleSet =
  | 'default'
  | 'llama3'
  | 'qwen2'
  | 'gpt2'
  | 'starcoder'
  | 'falcon'
  | 'deepseek-llm'
  | 'deepseek-coder'
  | 'deepseek3'
  | 'tekken'
  | 'gpt4o'
  | 'bloom'
  | 'viking';

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
/** Llama 3's split with digits in runs of `digits` (\\p{N}{1,3}, or \\p{N} alone for Qwen2). */
const llama3Like = (digits: string) =>
  `${CONTRACTIONS}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|${digits}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const UPPER_THEN_LOWER = '((?=[\\p{L}])([^a-z]))';
const LOWER = '((?=[\\p{L}])([^A-Z]))';
/**
 * DeepSeek LLM's letters (its tokenizer.json lists them as ranges): code points in hex, ranges
 * as from-to. Escaped, not literal: several are compatibility characters (U+1FBE, U+2126,
 * U+212A...) that Unicode normalization of a source file would quietly turn into others.
 */
const DEEPSEEK_LETTERS = (
  '41-5a 61-7a b5 c0-d6 d8-f6 f8-1ba 1bc-1bf 1c4-293 295-2af 370-373 376 377 37b-37d 37f ' +
  '386 388-38a 38c 38e-3a1 3a3-3f5 3f7-481 48a-52f 531-556 10a0-10c5 13a0-13f5 13f8-13fd ' +
  '1c90-1cba 1cbd-1cbf 1d00-1d2b 1d6b-1d77 1d79-1d9a 1e00-1f15 1f18-1f1d 1f20-1f45 ' +
  '1f48-1f4d 1f50-1f57 1f59 1f5b 1f5d 1f5f-1f7d 1f80-1fb4 1fb6-1fbc 1fbe 1fc2-1fc4 ' +
  '1fc6-1fcc 1fd0-1fd3 1fd6-1fdb 1fe0-1fec 1ff2-1ff4 1ff6-1ffc 2102 2107 210a-2113 2115 ' +
  '2119-211d 2124 2126 2128 212a-212d 212f-2134 2139 213c-213f 2145-2149 214e 2183 2184 ' +
  '2c00-2c7b 2c7e-2ce4 2ceb-2cee 2cf2 2cf3 a640-a66d a680-a69b a722-a76f a771-a787 ' +
  'a78b-a78e ab70-abbf fb00-fb06 fb13-fb17 ff21-ff3a ff41-ff5a 10400-1044f 104b0-104d3 ' +
  '104d8-104fb 10c80-10cb2 10cc0-10cf2 118a0-118df 1e900-1e943'
)
  .split(' ')
  .map((item) =>
    item
      .split('-')
      .map((hex) => `\\u{${hex}}`)
      .join('-'),
  )
  .join('');
const CJK = '[一-龥ࠀ-一가-퟿]+';

const RULES: Record<RuleSet, readonly string[]> = {
  // llama.cpp's default for BPE vocabularies: punctuation runs, GPT-2's split, digit runs,
  // then digits in threes.
  default: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'],
  llama3: [llama3Like('\\p{N}{1,3}')],
  qwen2: [llama3Like('\\p{N}')],
  gpt2: [GPT2],
  // Every digit alone first, then GPT-2's split (StarCoder, SmolLM, Command R, ...).
  starcoder: ['\\p{N}', GPT2],
  falcon: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]'],
  'deepseek-llm': [
    '[\r\n]',
    `\\s?[${DEEPSEEK_LETTERS}]+`,
    '\\s?[!-/:-~！-／：-～‘-‟　-。]+',
    '\\s+$',
    CJK,
    '\\p{N}+',
  ],
  'deepseek-coder': ['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', CJK, '\\p{N}'],
  deepseek3: [
    '\\p{N}{1,3}',
    '[一-龥぀-ゟ゠-ヿ]+',
    '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+',
  ],
  tekken: [
    `[^\\r\\n\\p{L}\\p{N}]?${UPPER_THEN_LOWER}*${LOWER}+|[^\\r\\n\\p{L}\\p{N}]?${UPPER_THEN_LOWER}+${LOWER}*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
  ],
  gpt4o: [
    `[^\\r\\n\\p{L}\\p{N}]?${UPPER_THEN_LOWER}*${LOWER}+${CONTRACTIONS}?|[^\\r\\n\\p{L}\\p{N}]?${UPPER_THEN_LOWER}+${LOWER}*${CONTRACTIONS}?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`,
  ],
  bloom: [' ?[^(\\s|.,!?…。，、।۔،)]+'],
  viking: [' ?[^(\\s|.,!?…。，、।۔،)]+', '\\p{N}'],
};

/** What llama.cpp sets for a pre-tokenizer name besides its rules. */
interface PreTokenizer {
  rules: RuleSet;
  /** A word that is a token whole skips the merges (llama.cpp's ignore_merges). */
  ignoreMerges?: boolean;
  /** BOS on prompts unless the file says otherwise (tokenizer.ggml.add_bos_token). */
  addBos?: boolean;
}

const llama3: PreTokenizer = { rules: 'llama3', ignoreMerges: true, addBos: true };

/** Every `tokenizer.ggml.pre` name agentgpu runs, as llama.cpp's llama_vocab::load reads it. */
const PRE_TOKENIZERS: Readonly<Record<string, PreTokenizer>> = {
  default: { rules: 'default' },
  llama3,
  'llama-v3': llama3,
  'llama-bpe': llama3,
  falcon3: llama3,
  'falcon-h1': llama3,
  pixtral: llama3,
  'midm-2.0': llama3,
  lfm2: llama3,
  // Llama 3's rules without its flags.
  dbrx: { rules: 'llama3' },
  'smaug-bpe': { rules: 'llama3' },
  'deepseek-llm': { rules: 'deepseek-llm' },
  'deepseek-coder': { rules: 'deepseek-coder' },
  'deepseek-v3': { rules: 'deepseek3' },
  falcon: { rules: 'falcon' },
  mpt: { rules: 'gpt2' },
  'gpt-2': { rules: 'gpt2' },
  'phi-2': { rules: 'gpt2' },
  olmo: { rules: 'gpt2' },
  jais: { rules: 'gpt2' },
  exaone4: { rules: 'gpt2' },
  trillion: { rules: 'gpt2' },
  'granite-docling': { rules: 'gpt2' },
  starcoder: { rules: 'starcoder' },
  refact: { rules: 'starcoder' },
  'command-r': { rules: 'starcoder' },
  smollm: { rules: 'starcoder' },
  codeshell: { rules: 'starcoder' },
  exaone: { rules: 'starcoder' },
  'minerva-7b': { rules: 'starcoder' },
  qwen2: { rules: 'qwen2' },
  'deepseek-r1-qwen': { rules: 'qwen2' },
  kormo: { rules: 'qwen2' },
  stablelm2: { rules: 'qwen2' },
  megrez: { rules: 'qwen2' },
  hunyuan: { rules: 'qwen2' },
  tekken: { rules: 'tekken', ignoreMerges: true, addBos: true },
  'gpt-4o': { rules: 'gpt4o' },
  llama4: { rules: 'gpt4o' },
  'minimax-m2': { rules: 'gpt4o' },
  'poro-chat': { rules: 'bloom' },
  bloom: { rules: 'bloom' },
  'gpt3-finnish': { rules: 'bloom' },
  viking: { rules: 'viking' },
};

/** The pre-tokenizer names agentgpu knows, for error messages. */
export const preTokenizerNames: readonly string[] = Object.keys(PRE_TOKENIZERS);

/** What llama.cpp does for `pre`, with its regexes ready; undefined for an unknown name. */
export function preTokenizer(
  pre: string,
): { regexes: RegExp[]; ignoreMerges: boolean; addBos: boolean } | undefined {
  const found = Object.hasOwn(PRE_TOKENIZERS, pre) ? PRE_TOKENIZERS[pre] : undefined;
  if (!found) return undefined;
  return {
    regexes: RULES[found.rules].map(toJsRegex),
    ignoreMerges: found.ignoreMerges ?? false,
    addBos: found.addBos ?? false,
  };
}

/**
 * llama.cpp's whitespace (the whitespace table of its unicode data), as the inside of a
 * character class: JavaScript's \s has U+FEFF, which llama.cpp's lacks, and lacks U+0085,
 * which llama.cpp's has.
 */
const WHITESPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** A llama.cpp regex as a JavaScript one: \s and \S by llama.cpp's whitespace, Unicode mode. */
export function toJsRegex(pattern: string): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      const next = pattern[++i];
      if (next === 's') out += inClass ? WHITESPACE : `[${WHITESPACE}]`;
      else if (next === 'S' && !inClass) out += `[^${WHITESPACE}]`;
      else if (next === 'S') throw new Error(`\\S inside a class is not supported: ${pattern}`);
      else out += c + next;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    out += c;
  }
  return new RegExp(out, 'gu');
}
