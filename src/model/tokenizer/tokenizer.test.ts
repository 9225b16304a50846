import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { parseGguf } from '../gguf/reader.js';
import { tinyModel, type TinyModelOptions } from '../testing/tiny-model.js';
import { tokenizerFromGguf } from './index.js';

// Tokenizer parity with llama.cpp (node-llama-cpp, vocab-only) on a few hundred varied strings,
// for each tokenizer type: the same ids with and without special-token parsing, BOS as the
// model says, and decode(encode(text)) === text.

const dir = mkdtempSync(join(tmpdir(), 'agentgpu-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = [
  '',
  ' ',
  'a',
  'Hello, world!',
  'Hello world',
  ' Hello world',
  '  leading and trailing  ',
  'The quick brown fox jumps over the lazy dog.',
  "It's, we're, they've, I'll, she'd, IT'S, We'RE",
  'numbers 1 12 123 1234 12345 3.14159 1,000,000 2026-11-21',
  'tabs\tand\t\ttabs',
  'new\nlines\n\nand\n\n\nmore\r\nwindows\r\n',
  '    indented code\n        deeper\n',
  'function add(a, b) {\n  return a + b;\n}\n',
  'for (let i = 0; i < 10; i++) { console.log(i * i); }',
  '<html><body><p class="x">Markup &amp; entities</p></body></html>',
  'Café naïve résumé déjà vu Straße',
  'Ελληνικά Русский текст',
  '日本語のテキスト。中文文本。한국어 텍스트',
  'Emoji: 🙂🚀🦙 flags 🇫🇷🇯🇵 family 👨‍👩‍👧',
  'mixed🙂text🚀with💡emoji',
  'zero\u200bwidth joiner\u200d and non-breaking\u00a0space',
  '!!!???...;;;:::',
  '$$$ %%% ^^^ &&& *** ((( )))',
  '\'quoted\' "double" `back`',
  'CamelCaseIdentifiersAndsnake_case_names',
  'URL: https://example.com/path?query=1&other=two#frag',
  'email@example.com and @mentions and #hashtags',
  '\u0000 control \u0007 chars \u001b[31m',
  'a'.repeat(200),
  ' '.repeat(17) + 'x' + '\n'.repeat(5),
  // Where pre-tokenizers part: digit runs, contractions in both cases, newline runs,
  // llama.cpp's whitespace (U+0085 is, U+FEFF is not), right-to-left scripts.
  '3333333 12345678901 0.000001 ١٢٣ ²³ ½',
  "I'M YOU'RE WE'VE they'LL it'S don't",
  'a\n\n\nb \r\n\r\n c\t\n d',
  'next\u0085line and \ufeffbom\ufeff inside, nbsp\u00a0here\u2003em\u3000wide',
  '\ufeffstarts with a BOM',
  'مرحبا بالعالم 123 שלום עולם',
  'x=1;y+=2**3//4 ->  <= >= != ~~ || && ^^',
  'Aa AAa aAA ÀÉÎ ǅungla Ⅻ ß ẞ',
  'a <tool_call>{"name": "f"}</tool_call> b <tool_call>',
];

function corpus(): string[] {
  const rng = new Rng(77);
  const pieces = base.filter((s) => s.length > 0);
  const out = [...base];
  while (out.length < 300) {
    const n = rng.int(1, 4);
    let s = '';
    for (let i = 0; i < n; i++) {
      // Cut between code points, never inside a surrogate pair.
      const p = Array.from(pieces[rng.int(0, pieces.length - 1)]);
      const cut = rng.int(0, p.length);
      const part = rng.next() < 0.5 ? p.slice(cut) : p.slice(0, cut);
      s += part.join('') + [' ', '', '\n', '  '][rng.int(0, 3)];
    }
    out.push(s);
  }
  return out;
}

// User-defined tokens (matched in plain text too, as Qwen2.5's <tool_call>) and an unknown-type
// one (matched only when special tokens are parsed).
const extraTokens = [
  { text: '<tool_call>', type: 4 },
  { text: '</tool_call>', type: 4 },
  { text: '<|unk|>', type: 2 },
];

/** llama.cpp's pre-tokenizer names, each on the tiny vocabulary, BOS left to its default. */
const preNames = [
  'llama-bpe',
  'smollm',
  'starcoder',
  'refact',
  'command-r',
  'codeshell',
  'exaone',
  'minerva-7b',
  'deepseek-llm',
  'deepseek-coder',
  'deepseek-v3',
  'deepseek-r1-qwen',
  'falcon',
  'mpt',
  'olmo',
  'gpt-2',
  'phi-2',
  'jais',
  'dbrx',
  'smaug-bpe',
  'stablelm2',
  'tekken',
  'gpt-4o',
  'bloom',
  'poro-chat',
  'viking',
];

const cases: [string, TinyModelOptions, string][] = [
  ['BPE, llama3 pre-tokenizer', { architecture: 'llama' }, '<|begin_of_text|>Hi<|eot_id|>'],
  [
    'BPE, qwen2 pre-tokenizer',
    { architecture: 'qwen2', extraTokens },
    '<|im_start|>user\n<tool_call>Hi<|unk|><|im_end|>',
  ],
  ['BPE, default pre-tokenizer', { architecture: 'llama', pre: 'default' }, '<|eot_id|> x'],
  ...preNames.map((pre): [string, TinyModelOptions, string] => [
    `BPE, ${pre} pre-tokenizer, BOS by its default`,
    { architecture: 'llama', pre, addBos: 'unset', extraTokens },
    '<|begin_of_text|>Hi<tool_call><|unk|><|eot_id|>',
  ]),
  ['SentencePiece', { architecture: 'llama', tokenizer: 'spm' }, '<s>Hi</s> there'],
];

describe('tokenizer parity with llama.cpp', () => {
  for (const [name, options, specialText] of cases) {
    it(name, async () => {
      const { bytes } = tinyModel({ ...options, layers: 1, weights: 'Q8_0' });
      const ours = tokenizerFromGguf(parseGguf(bytes).metadata);
      const path = join(dir, `${name.replace(/\W+/g, '-')}.gguf`);
      writeFileSync(path, bytes);
      const { getLlama } = await import('node-llama-cpp');
      const llama = await getLlama({ gpu: false, build: 'never' });
      const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
      try {
        const texts = [...corpus(), specialText];
        const mismatches: string[] = [];
        for (const text of texts) {
          const theirs = model.tokenize(text, false).map(Number);
          const mine = ours.encode(text, { addSpecial: false, special: false });
          if (JSON.stringify(theirs) !== JSON.stringify(mine)) {
            mismatches.push(`${JSON.stringify(text)}: llama.cpp ${theirs} ours ${mine}`);
          }
          const theirsSpecial = model.tokenize(text, true).map(Number);
          const mineSpecial = ours.encode(text, { addSpecial: false, special: true });
          if (JSON.stringify(theirsSpecial) !== JSON.stringify(mineSpecial)) {
            mismatches.push(
              `special ${JSON.stringify(text)}: llama.cpp ${theirsSpecial} ours ${mineSpecial}`,
            );
          }
          expect(ours.decode(mine)).toBe(text);
        }
        expect(mismatches.slice(0, 5)).toEqual([]);
        expect(texts.length).toBeGreaterThanOrEqual(300);
        // BOS as llama.cpp adds it for a completion prompt.
        const bos = model.tokens.bos === null ? undefined : Number(model.tokens.bos);
        expect(ours.bos).toBe(bos);
        expect(ours.addBos).toBe(model.tokens.shouldPrependBosToken);
      } finally {
        await model.dispose();
      }
    });
  }
});
