import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import llamaTokenizer from 'llama-tokenizer-js';
import llama3Tokenizer from 'llama3-tokenizer-js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Llama } from 'node-llama-cpp';
import { Rng } from '../../util/rng.js';
import { parseGguf } from '../gguf/reader.js';
import { writeGguf, type GgufWriteValue } from '../gguf/writer.js';
import { ChatTemplate } from '../chat/template.js';
import { tokenizerFromGguf } from './index.js';
import { TokenType } from './tokenizer.js';

// Tokenization against llama.cpp (node-llama-cpp, vocab only) on real vocabularies: Llama 3's
// 128k byte-level BPE under each pre-tokenizer that could carry it, and Llama 2's 32k
// SentencePiece, from the vocabularies the npm packages llama3-tokenizer-js and
// llama-tokenizer-js ship. Over a thousand generated hard strings each, as prompts (special
// tokens as text) and inside a conversation rendered by the chat template (special tokens parsed).

const dir = mkdtempSync(join(tmpdir(), 'agentgpu-vocab-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A vocabulary-only GGUF: llama hyperparameters (llama.cpp reads them) and a tokenizer. */
function vocabGguf(tokenizer: Record<string, GgufWriteValue>): Uint8Array {
  const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });
  return writeGguf(
    {
      'general.architecture': { type: 'string', value: 'llama' },
      'general.name': { type: 'string', value: 'vocabulary only' },
      'llama.context_length': u32(4096),
      'llama.embedding_length': u32(64),
      'llama.block_count': u32(1),
      'llama.feed_forward_length': u32(128),
      'llama.attention.head_count': u32(2),
      'llama.attention.head_count_kv': u32(2),
      'llama.rope.freq_base': { type: 'f32', value: 10000 },
      'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: 1e-5 },
      ...tokenizer,
    },
    [],
  );
}

/** node-llama-cpp's CPU build, loaded once for the file (0.5-1 s a call). */
let llamaLoading: Promise<Llama> | undefined;
function llamaCpp(): Promise<Llama> {
  return (llamaLoading ??= import('node-llama-cpp').then(({ getLlama }) =>
    getLlama({ gpu: false, build: 'never' }),
  ));
}

/** Llama 3's vocabulary and merges, in merge order, as a byte-level BPE GGUF. */
let llama3Merges: string[] | undefined;
function llama3Gguf(pre: string): Uint8Array {
  const tokens = llama3Tokenizer.vocabById;
  const merges = (llama3Merges ??= [...llama3Tokenizer.merges.entries()]
    .sort((a, b) => a[1] - b[1])
    .map(([pair]) => pair));
  const special = 128000;
  return vocabGguf({
    'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
    'tokenizer.ggml.pre': { type: 'string', value: pre },
    'tokenizer.ggml.tokens': { type: 'array', of: 'string', value: tokens },
    'tokenizer.ggml.token_type': {
      type: 'array',
      of: 'i32',
      value: tokens.map((_, id) => (id >= special ? TokenType.CONTROL : TokenType.NORMAL)),
    },
    'tokenizer.ggml.merges': { type: 'array', of: 'string', value: merges },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 128000 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 128009 },
  });
}

/**
 * Llama 2's vocabulary as a SentencePiece GGUF: <unk>, <s>, </s>, 256 byte tokens, then pieces
 * scored by their order (Meta's scores fall with the id the same way).
 */
function llama2Gguf(): Uint8Array {
  const tokens = llamaTokenizer.vocabById;
  const type = (id: number) =>
    id === 0
      ? TokenType.UNKNOWN
      : id < 3
        ? TokenType.CONTROL
        : id < 259
          ? TokenType.BYTE
          : TokenType.NORMAL;
  return vocabGguf({
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'array', of: 'string', value: tokens },
    'tokenizer.ggml.scores': {
      type: 'array',
      of: 'f32',
      value: tokens.map((_, id) => (id < 259 ? 0 : -(id - 259))),
    },
    'tokenizer.ggml.token_type': { type: 'array', of: 'i32', value: tokens.map((_, i) => type(i)) },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
    'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
  });
}

const fragments = {
  words: [
    'Hello',
    'world',
    'THE',
    'quick',
    'Brown',
    'naïve',
    'café',
    'Straße',
    'résumé',
    'cafe\u0301', // a combining accent
    'ǅungla',
    'İstanbul',
    'Ελληνικά',
    'Русский',
    'हिन्दी',
    'ไทย',
  ],
  contractions: [
    "'s",
    "'S",
    "'t",
    "'T",
    "'re",
    "'RE",
    "'ve",
    "'VE",
    "'m",
    "'M",
    "'ll",
    "'LL",
    "'d",
    "'D",
  ],
  spaces: [
    ' ',
    '  ',
    '   ',
    '\t',
    '\t\t',
    '\n',
    '\n\n',
    '\n\n\n',
    '\r\n',
    '\r\n\r\n',
    ' \n ',
    '\u00a0',
    '\u2003',
    '\u3000',
    '\u0085',
    '\ufeff',
    '\u200b',
    '\u200d',
  ],
  scripts: [
    '日本語のテキスト',
    '中文文本。',
    '한국어 텍스트',
    'مرحبا بالعالم',
    'שלום עולם',
    '🙂',
    '🚀🦙',
    '👨‍👩‍👧',
    '🇫🇷',
    '👍🏽',
    '∑∫√∞≠≤',
    '①②③',
    'Ⅻ',
    '½²³',
    '١٢٣',
  ],
  code: [
    'function f(a, b) { return a + b; }',
    'x=1;y+=2**3//4',
    '->',
    '<=',
    '!==',
    '&&',
    '||',
    '#include <stdio.h>',
    'def main():\n    pass',
    '    indented',
    'https://example.com/path?q=1&r=two#frag',
    'user@example.com',
    '$HOME/.config',
    '"quoted"',
    '`tick`',
    '...',
    '!!!',
    '???',
    '---',
  ],
  lookalikes: [
    '<|eot_id|>',
    '<|begin_of_text|>',
    '<|start_header_id|>',
    '<|end_header_id|>',
    '<s>',
    '</s>',
    '<unk>',
    '[INST]',
    '<<SYS>>',
    '<|im_start|>',
    '<0x0A>',
  ],
};

/** Generated hard strings: numbers of every length, contractions, whitespace runs, scripts. */
function hardStrings(count: number, seed: number): string[] {
  const rng = new Rng(seed);
  const pick = <T>(list: readonly T[]) => list[rng.int(0, list.length - 1)];
  const digits = (n: number) => Array.from({ length: n }, () => String(rng.int(0, 9))).join('');
  const out = ['', ' ', '\ufeff', '\ufeffHello', '3333333', "I'M", 'a\n\n\nb'];
  for (let n = 1; n <= 24; n++) out.push(digits(n), ` ${digits(n)}`, `x${digits(n)}y`);
  while (out.length < count) {
    let s = '';
    for (let parts = rng.int(1, 6); parts > 0; parts--) {
      switch (rng.int(0, 6)) {
        case 0:
          s += pick(fragments.words) + (rng.next() < 0.4 ? pick(fragments.contractions) : '');
          break;
        case 1:
          s += digits(rng.int(1, 12)) + (rng.next() < 0.3 ? `.${digits(rng.int(1, 4))}` : '');
          break;
        case 2:
          s += pick(fragments.spaces).repeat(rng.int(1, 3));
          break;
        case 3:
          s += pick(fragments.scripts);
          break;
        case 4:
          s += pick(fragments.code);
          break;
        case 5:
          s += pick(fragments.lookalikes);
          break;
        default:
          s += pick(fragments.words).toUpperCase();
      }
      if (rng.next() < 0.6) s += pick([' ', '', '\n', ', ', '. ']);
    }
    out.push(s);
  }
  return out;
}

interface Case {
  name: string;
  bytes: () => Uint8Array;
}

const cases: Case[] = [
  // A name for each llama.cpp pre-tokenizer type that the converters write for the architectures
  // agentgpu runs (phi-2 is GPT2's type and deepseek-r1-qwen QWEN2's: tokenizer.test.ts checks
  // that those names behave as theirs).
  ...[
    'llama-bpe',
    'smollm',
    'qwen2',
    'default',
    'gpt-2',
    'mpt',
    'olmo',
    'starcoder',
    'refact',
    'command-r',
    'falcon',
    'deepseek-llm',
    'deepseek-coder',
    'tekken',
    'gpt-4o',
  ].map((pre) => ({
    name: `Llama 3 vocabulary, ${pre}`,
    bytes: () => llama3Gguf(pre),
  })),
  {
    name: 'Llama 2 vocabulary (SentencePiece)',
    bytes: llama2Gguf,
  },
];

describe('tokenization on real vocabularies, against llama.cpp', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const bytes = c.bytes();
      const { metadata } = parseGguf(bytes);
      const ours = tokenizerFromGguf(metadata);
      // The chat path as LanguageModel.prompt takes it: the file's template (here the built-in
      // for its tokens: Llama 3's, or Llama 2's [INST]) rendered with @huggingface/jinja, then
      // tokenized with special tokens parsed. Both templates print BOS themselves.
      const template = ChatTemplate.fromGguf(metadata);
      expect(template.rendersBos).toBe(true);
      const path = join(dir, `${c.name.replace(/\W+/g, '-')}.gguf`);
      writeFileSync(path, bytes);
      const llama = await llamaCpp();
      const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
      try {
        const texts = hardStrings(1000, 7);
        const mismatches: string[] = [];
        const compare = (label: string, text: string, special: boolean) => {
          const theirs = model.tokenize(text, special).map(Number);
          const mine = ours.encode(text, { addSpecial: false, special });
          if (theirs.join() !== mine.join()) {
            mismatches.push(`${label} ${JSON.stringify(text)}: llama.cpp ${theirs} ours ${mine}`);
          }
          return mine;
        };
        for (const text of texts) {
          const ids = compare('prompt', text, false);
          expect(ours.decode(ids)).toBe(text);
          const rendered = template.render([
            { role: 'system', content: 'Answer in one line.' },
            { role: 'user', content: text },
          ]);
          compare('chat', rendered, true);
        }
        expect(mismatches.slice(0, 5)).toEqual([]);
        expect(texts.length).toBeGreaterThanOrEqual(1000);
        expect(ours.addBos).toBe(model.tokens.shouldPrependBosToken);
      } finally {
        await model.dispose();
      }
    });
  }
});
