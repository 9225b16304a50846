import type { ChatHistoryItem } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { ChatTemplateError, errorClasses } from '../../errors.js';
import { deserializeError } from '../../worker/transfer.js';
import { parseGguf } from '../gguf/reader.js';
import type { GgufValue } from '../gguf/types.js';
import { tinyModel, type TinyArchitecture } from '../testing/tiny-model.js';
import { tokenizerFromGguf } from '../tokenizer/index.js';
import { TokenType } from '../tokenizer/tokenizer.js';
import { builtinTemplates, type BuiltinTemplateName } from './builtin.js';
import { ChatTemplate, foldSystemMessages, type ChatMessage } from './template.js';
import {
  LLAMA_CPP_CONVERSATION,
  LLAMA_CPP_TEMPLATE_CASES,
  LLAMA3_2_1B_INSTRUCT,
  LLAMA3_8B_INSTRUCT,
  QWEN2_5_0_5B_INSTRUCT,
  QWEN3_0_6B,
  SMOLLM2_135M_INSTRUCT,
  TINYLLAMA_1_1B_CHAT,
} from './testing/reference-templates.js';

// Real templates rendered verbatim, compared with the exact text the models were tuned on;
// the built-in fallbacks compared with the real templates of their family; node-llama-cpp's
// chat wrappers (llama.cpp's own formats) as an outside check of the fallbacks.

interface Vocab {
  architecture: string;
  /** The special (CONTROL) tokens; gguf() puts one normal token after them. */
  specials: string[];
  bos: string;
  eos: string;
}

const SMOLLM2: Vocab = {
  architecture: 'llama',
  specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
  bos: '<|im_start|>',
  eos: '<|im_end|>',
};
const QWEN2: Vocab = {
  architecture: 'qwen2',
  specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
  bos: '<|endoftext|>',
  eos: '<|im_end|>',
};
const LLAMA3: Vocab = {
  architecture: 'llama',
  specials: [
    '<|begin_of_text|>',
    '<|end_of_text|>',
    '<|start_header_id|>',
    '<|end_header_id|>',
    '<|eom_id|>',
    '<|eot_id|>',
  ],
  bos: '<|begin_of_text|>',
  eos: '<|eot_id|>',
};
const TINYLLAMA: Vocab = {
  architecture: 'llama',
  specials: ['<s>', '</s>'],
  bos: '<s>',
  eos: '</s>',
};

function gguf(vocab: Vocab, template?: string): Map<string, GgufValue> {
  const tokens = [...vocab.specials, '▁Hello'];
  const types = new Int32Array(tokens.length).fill(TokenType.CONTROL);
  types[tokens.length - 1] = TokenType.NORMAL;
  const m = new Map<string, GgufValue>([
    ['general.architecture', vocab.architecture],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.token_type', types],
    ['tokenizer.ggml.bos_token_id', tokens.indexOf(vocab.bos)],
    ['tokenizer.ggml.eos_token_id', tokens.indexOf(vocab.eos)],
  ]);
  if (template !== undefined) m.set('tokenizer.chat_template', template);
  return m;
}

const SYSTEM: ChatMessage = { role: 'system', content: 'You are a terse assistant.' };
const TURNS: ChatMessage[] = [
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4.' },
  { role: 'user', content: 'And 3+3?' },
];
const CONVERSATION = [SYSTEM, ...TURNS];

const chatml = (role: string, content: string) => `<|im_start|>${role}\n${content}<|im_end|>\n`;
const CHATML_TURNS =
  chatml('user', 'What is 2+2?') + chatml('assistant', '4.') + chatml('user', 'And 3+3?');
const CHATML_PROMPT = '<|im_start|>assistant\n';

const header = (role: string, content: string) =>
  `<|start_header_id|>${role}<|end_header_id|>\n\n${content}<|eot_id|>`;
const LLAMA3_PROMPT = '<|start_header_id|>assistant<|end_header_id|>\n\n';
const LLAMA3_TURNS =
  header('user', 'What is 2+2?') + header('assistant', '4.') + header('user', 'And 3+3?');
const LLAMA3_2_DATE = 'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n';

describe('real chat templates render verbatim', () => {
  it('SmolLM2-135M-Instruct', () => {
    const t = ChatTemplate.fromGguf(gguf(SMOLLM2, SMOLLM2_135M_INSTRUCT));
    expect(t.origin).toBe('gguf');
    const withSystem = chatml('system', SYSTEM.content) + CHATML_TURNS;
    expect(t.render(CONVERSATION)).toBe(withSystem + CHATML_PROMPT);
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).toBe(withSystem);
    const defaultSystem = chatml(
      'system',
      'You are a helpful AI assistant named SmolLM, trained by Hugging Face',
    );
    expect(t.render(TURNS)).toBe(defaultSystem + CHATML_TURNS + CHATML_PROMPT);
    // SmolLM2's BOS is <|im_start|>, which its template prints first.
    expect(t.rendersBos).toBe(true);
    expect(t.stopTokens).toEqual(['<|im_end|>', '<|endoftext|>']);
    expect(t.stopTokenIds).toEqual([2, 0]);
  });

  it('Qwen2.5-0.5B-Instruct', () => {
    const t = ChatTemplate.fromGguf(gguf(QWEN2, QWEN2_5_0_5B_INSTRUCT));
    const withSystem = chatml('system', SYSTEM.content) + CHATML_TURNS;
    expect(t.render(CONVERSATION)).toBe(withSystem + CHATML_PROMPT);
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).toBe(withSystem);
    const defaultSystem = chatml(
      'system',
      'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.',
    );
    expect(t.render(TURNS)).toBe(defaultSystem + CHATML_TURNS + CHATML_PROMPT);
    expect(t.rendersBos).toBe(false);
    expect(t.stopTokens).toEqual(['<|im_end|>', '<|endoftext|>']);
  });

  it('Qwen2.5 renders tool results as a user turn and tools into the system prompt', () => {
    const t = ChatTemplate.fromGguf(gguf(QWEN2, QWEN2_5_0_5B_INSTRUCT));
    const tool: ChatMessage = { role: 'tool', content: '{"temp": 21}' };
    const out = t.render([{ role: 'user', content: 'Weather?' }, tool], {
      variables: { tools: [{ type: 'function', function: { name: 'weather' } }] },
    });
    expect(out).toContain('# Tools\n\nYou may call one or more functions');
    expect(out).toContain('\n<tools>\n{"type": "function", "function": {"name": "weather"}}\n');
    expect(out).toContain('<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response>');
  });

  it('Qwen3-0.6B, with and without thinking', () => {
    const QWEN3 = { ...QWEN2, architecture: 'qwen3' };
    const t = ChatTemplate.fromGguf(gguf(QWEN3, QWEN3_0_6B));
    const withSystem = chatml('system', SYSTEM.content) + CHATML_TURNS;
    expect(t.render(CONVERSATION)).toBe(withSystem + CHATML_PROMPT);
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).toBe(withSystem);
    expect(t.render(TURNS)).toBe(CHATML_TURNS + CHATML_PROMPT);
    expect(t.render(TURNS, { variables: { enable_thinking: false } })).toBe(
      CHATML_TURNS + CHATML_PROMPT + '<think>\n\n</think>\n\n',
    );
    // An earlier answer loses its reasoning; the template needs namespace(), [::-1], split().
    const thought: ChatMessage = { role: 'assistant', content: '<think>\n2 and 2\n</think>\n\n4.' };
    expect(t.render([TURNS[0], thought, TURNS[2]])).toBe(CHATML_TURNS + CHATML_PROMPT);
  });

  it('Llama-3.2-1B-Instruct, with a fixed date and with strftime_now', () => {
    const t = ChatTemplate.fromGguf(gguf(LLAMA3, LLAMA3_2_1B_INSTRUCT));
    const variables = { date_string: '26 Jul 2024' };
    const text =
      '<|begin_of_text|>' + header('system', LLAMA3_2_DATE + SYSTEM.content) + LLAMA3_TURNS;
    expect(t.render(CONVERSATION, { variables })).toBe(text + LLAMA3_PROMPT);
    expect(t.render(CONVERSATION, { variables, addGenerationPrompt: false })).toBe(text);
    // Without date_string the template asks strftime_now, which @huggingface/jinja provides.
    expect(t.render(CONVERSATION)).toMatch(/\nToday Date: \d\d \w+ \d{4}\n\nYou are a terse/);
    expect(t.rendersBos).toBe(true);
    expect(t.stopTokens).toEqual(['<|eot_id|>', '<|eom_id|>', '<|end_of_text|>']);
  });

  it('Meta-Llama-3-8B-Instruct', () => {
    const t = ChatTemplate.fromGguf(gguf(LLAMA3, LLAMA3_8B_INSTRUCT));
    const text = '<|begin_of_text|>' + header('system', SYSTEM.content) + LLAMA3_TURNS;
    expect(t.render(CONVERSATION)).toBe(text + LLAMA3_PROMPT);
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).toBe(text);
  });

  it('TinyLlama-1.1B-Chat (Zephyr format)', () => {
    const t = ChatTemplate.fromGguf(gguf(TINYLLAMA, TINYLLAMA_1_1B_CHAT));
    const text =
      '<|system|>\nYou are a terse assistant.</s>\n<|user|>\nWhat is 2+2?</s>\n' +
      '<|assistant|>\n4.</s>\n<|user|>\nAnd 3+3?</s>\n';
    expect(t.render(CONVERSATION)).toBe(text + '<|assistant|>\n');
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).toBe(text);
    // The tokenizer adds <s>: the template does not print it.
    expect(t.rendersBos).toBe(false);
    expect(t.stopTokens).toEqual(['</s>']);
  });
});

describe("templates render as llama.cpp's test-chat-template.cpp expects", () => {
  // Its cases: the real templates, its conversation (a system prompt, spaces kept in an answer)
  // and the prompt llama.cpp's Jinja path renders, systems folded where a template has no role.
  for (const c of LLAMA_CPP_TEMPLATE_CASES) {
    it(c.name, () => {
      const vocabulary = { bos: c.bos, eos: c.eos, specialTokenId: () => undefined };
      const t = new ChatTemplate({ source: c.template, vocabulary });
      expect(t.render(LLAMA_CPP_CONVERSATION)).toBe(c.expected);
    });
  }

  it('folds systems as llama.cpp: joined, into the next user turn, or a user turn of their own', () => {
    const fold = (roles: ChatMessage['role'][]) =>
      foldSystemMessages(roles.map((role, i) => ({ role, content: `${role}${i}` })));
    expect(fold(['system', 'system', 'user'])).toEqual([
      { role: 'user', content: 'system0\nsystem1\nuser2' },
    ]);
    expect(fold(['user', 'system', 'assistant', 'system'])).toEqual([
      { role: 'user', content: 'user0' },
      { role: 'user', content: 'system1' },
      { role: 'assistant', content: 'assistant2' },
      { role: 'user', content: 'system3' },
    ]);
  });
});

describe('built-in templates for GGUFs without one', () => {
  it('picks ChatML for qwen2/qwen3, Llama 3 or ChatML by vocabulary, else [INST] for llama', () => {
    expect(ChatTemplate.fromGguf(gguf(QWEN2)).builtin).toBe('chatml');
    expect(ChatTemplate.fromGguf(gguf({ ...QWEN2, architecture: 'qwen3' })).builtin).toBe('chatml');
    expect(ChatTemplate.fromGguf(gguf(LLAMA3)).builtin).toBe('llama3');
    expect(ChatTemplate.fromGguf(gguf(SMOLLM2)).builtin).toBe('chatml');
    const tiny = ChatTemplate.fromGguf(gguf(TINYLLAMA));
    expect([tiny.origin, tiny.builtin]).toEqual(['builtin', 'llama2']);
  });

  it('ChatML equals SmolLM2, Qwen2.5 and Qwen3 where they agree (given a system message)', () => {
    const builtin = ChatTemplate.fromGguf(gguf(QWEN2));
    for (const [vocab, real] of [
      [QWEN2, QWEN2_5_0_5B_INSTRUCT],
      [QWEN2, QWEN3_0_6B],
      [SMOLLM2, SMOLLM2_135M_INSTRUCT],
    ] as const) {
      const t = ChatTemplate.fromGguf(gguf(vocab, real));
      for (const addGenerationPrompt of [true, false]) {
        expect(builtin.render(CONVERSATION, { addGenerationPrompt })).toBe(
          t.render(CONVERSATION, { addGenerationPrompt }),
        );
      }
    }
    // Without one SmolLM2 and Qwen2.5 add their default system prompt; the built-in (and Qwen3)
    // add none.
    expect(builtin.render(TURNS)).toBe(CHATML_TURNS + CHATML_PROMPT);
  });

  it('Llama 3 equals Llama-3-8B-Instruct, and Llama 3.2 less its date lines', () => {
    const builtin = ChatTemplate.fromGguf(gguf(LLAMA3));
    const llama3 = ChatTemplate.fromGguf(gguf(LLAMA3, LLAMA3_8B_INSTRUCT));
    const llama32 = ChatTemplate.fromGguf(gguf(LLAMA3, LLAMA3_2_1B_INSTRUCT));
    const variables = { date_string: '26 Jul 2024' };
    for (const addGenerationPrompt of [true, false]) {
      const ours = builtin.render(CONVERSATION, { addGenerationPrompt });
      expect(ours).toBe(llama3.render(CONVERSATION, { addGenerationPrompt }));
      const real = llama32.render(CONVERSATION, { addGenerationPrompt, variables });
      expect(ours).toBe(real.replace(LLAMA3_2_DATE, ''));
    }
    expect(builtin.rendersBos).toBe(true);
    expect(builtin.render([{ role: 'tool', content: '21' }], { addGenerationPrompt: false })).toBe(
      '<|begin_of_text|>' + header('ipython', '21'),
    );
  });

  it('[INST] folds the system prompt into the first turn and brackets answers with BOS/EOS', () => {
    const t = ChatTemplate.fromGguf(gguf(TINYLLAMA));
    const text =
      '<s>[INST] <<SYS>>\nYou are a terse assistant.\n<</SYS>>\n\nWhat is 2+2? [/INST] 4. </s>' +
      '<s>[INST] And 3+3? [/INST]';
    expect(t.render(CONVERSATION)).toBe(text);
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).toBe(text);
    expect(t.render(TURNS)).toBe(
      '<s>[INST] What is 2+2? [/INST] 4. </s><s>[INST] And 3+3? [/INST]',
    );
    expect(t.rendersBos).toBe(true);
  });

  it("phi3's turns are llama.cpp's PHI_3 format", () => {
    const phi3: Vocab = {
      architecture: 'phi3',
      specials: ['<|endoftext|>', '<|user|>', '<|assistant|>', '<|end|>', '<|system|>'],
      bos: '<s>',
      eos: '<|endoftext|>',
    };
    const t = ChatTemplate.fromGguf(gguf(phi3));
    expect(t.builtin).toBe('phi3');
    // llm_chat_apply_template: `<|role|>\n` + content + `<|end|>\n` a turn, then `<|assistant|>\n`.
    const text =
      '<|system|>\nYou are a terse assistant.<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n' +
      '<|assistant|>\n4.<|end|>\n<|user|>\nAnd 3+3?<|end|>\n';
    expect(t.render(CONVERSATION)).toBe(text + '<|assistant|>\n');
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).toBe(text);
    expect(t.stopTokens).toEqual(['<|endoftext|>', '<|end|>']);
  });

  it("gemma2's turns are llama.cpp's GEMMA format, the system prompt opening the first user turn", () => {
    const gemma: Vocab = {
      architecture: 'gemma2',
      specials: ['<bos>', '<eos>', '<start_of_turn>', '<end_of_turn>'],
      bos: '<bos>',
      eos: '<eos>',
    };
    const t = ChatTemplate.fromGguf(gguf(gemma));
    expect(t.builtin).toBe('gemma');
    const text =
      '<start_of_turn>user\nYou are a terse assistant.\n\nWhat is 2+2?<end_of_turn>\n' +
      '<start_of_turn>model\n4.<end_of_turn>\n<start_of_turn>user\nAnd 3+3?<end_of_turn>\n';
    expect(t.render(CONVERSATION)).toBe(text + '<start_of_turn>model\n');
    expect(t.render(CONVERSATION, { addGenerationPrompt: false })).toBe(text);
    expect(t.stopTokens).toEqual(['<eos>', '<end_of_turn>']);
  });

  it('every built-in parses', () => {
    for (const source of Object.values(builtinTemplates)) {
      expect(
        () => new ChatTemplate({ source, vocabulary: { specialTokenId: () => undefined } }),
      ).not.toThrow();
    }
  });
});

describe('with a real GGUF and its tokenizer', () => {
  // The seeded test models carry no chat template: the built-in for each family renders, and
  // encoding with `addSpecial: !rendersBos` gives exactly one BOS where the model wants one.
  const cases: [TinyArchitecture, BuiltinTemplateName, string | undefined][] = [
    ['llama', 'llama3', '<|begin_of_text|>'],
    ['qwen2', 'chatml', undefined],
    ['qwen3', 'chatml', undefined],
  ];
  for (const [architecture, builtin, bosText] of cases) {
    it(architecture, () => {
      const { metadata } = parseGguf(tinyModel({ architecture, layers: 1 }).bytes);
      const template = ChatTemplate.fromGguf(metadata);
      const tokenizer = tokenizerFromGguf(metadata);
      expect(template.builtin).toBe(builtin);
      const text = template.render(CONVERSATION);
      const ids = tokenizer.encode(text, { addSpecial: !template.rendersBos, special: true });
      expect(tokenizer.decode(ids, { special: true })).toBe(text);
      const bosCount = ids.filter((id) => id === tokenizer.bos).length;
      expect(bosCount).toBe(bosText === undefined ? 0 : 1);
      if (bosText !== undefined) expect(ids[0]).toBe(tokenizer.bos);
      expect(template.stopTokenIds[0]).toBe(tokenizer.eos);
    });
  }
});

describe('template errors', () => {
  const catchError = (f: () => unknown): ChatTemplateError => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ChatTemplateError);
      return e as ChatTemplateError;
    }
    throw new Error('expected a ChatTemplateError');
  };

  it("a GGUF template that does not parse fails at load, saying to pass one's own", () => {
    const e = catchError(() => ChatTemplate.fromGguf(gguf(QWEN2, '{% if %}broken')));
    expect([e.origin, e.stage]).toEqual(['gguf', 'parse']);
    expect(e.message).toMatch(/GGUF's chat template \(tokenizer\.chat_template\) does not parse/);
    expect(e.message).toContain('`template` option');
  });

  it("the template's raise_exception becomes a render error with its message", () => {
    // (A template that raises on a system message gets it folded into the user's turn instead,
    // as llama.cpp does: see the test-chat-template.cpp cases above.)
    const source =
      "{% for m in messages %}{% if m.role == 'tool' %}" +
      "{{ raise_exception('Tool role not supported') }}{% endif %}{{ m.content }}{% endfor %}";
    const t = ChatTemplate.fromGguf(gguf(QWEN2, source));
    expect(t.render(TURNS)).toBe('What is 2+2?4.And 3+3?');
    const e = catchError(() => t.render([...TURNS, { role: 'tool', content: '6' }]));
    expect([e.origin, e.stage]).toEqual(['gguf', 'render']);
    expect(e.message).toContain('failed to render 4 message(s): Tool role not supported');
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('the [INST] built-in rejects roles that do not alternate', () => {
    const t = ChatTemplate.fromGguf(gguf(TINYLLAMA));
    const e = catchError(() => t.render([TURNS[0], TURNS[0]]));
    expect([e.origin, e.stage]).toEqual(['builtin', 'render']);
    expect(e.message).toContain('alternate');
  });

  it('an override replaces the GGUF template, broken or not', () => {
    const t = ChatTemplate.fromGguf(gguf(QWEN2, '{% if %}broken'), {
      template: '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}',
    });
    expect(t.origin).toBe('override');
    expect(t.render(TURNS)).toBe('[user] What is 2+2?\n[assistant] 4.\n[user] And 3+3?\n');
    const e = catchError(() => ChatTemplate.fromGguf(gguf(QWEN2), { template: '{{' }));
    expect([e.origin, e.stage]).toEqual(['override', 'parse']);
  });

  it('no template and no built-in for the architecture', () => {
    const vocab: Vocab = {
      architecture: 'gpt2',
      specials: ['<|endoftext|>'],
      bos: '<|endoftext|>',
      eos: '<|endoftext|>',
    };
    const e = catchError(() => ChatTemplate.fromGguf(gguf(vocab)));
    expect([e.origin, e.stage]).toEqual(['gguf', 'missing']);
    expect(e.message).toContain('architecture "gpt2"');
  });

  it('a template past the bounds fails at load, fast, naming whose template it is', () => {
    const hostile = [
      // 100 M items: 4.8 GB and a hang before the bounds.
      ['{% for i in range(100000000) %}x{% endfor %}', /range\(\) of 100,000,000 items/],
      // The same through a variable, and nested loops of modest ranges.
      ['{% set n = 10 ** 8 %}{% for i in range(n) %}{% endfor %}', /range\(\) of/],
      [
        '{% for a in range(3000) %}{% for b in range(3000) %}{{ b }}{% endfor %}{% endfor %}',
        /evaluation steps/,
      ],
      // A text that doubles each turn of a loop.
      [
        "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}" +
          '{% endfor %}{{ ns.s }}',
        /a text of [\d,]+ characters/,
      ],
    ] as const;
    for (const [source, why] of hostile) {
      const started = performance.now();
      const e = catchError(() => ChatTemplate.fromGguf(gguf(QWEN2, source)));
      expect(performance.now() - started).toBeLessThan(20_000); // unbounded: minutes, or OOM
      expect([e.origin, e.stage]).toEqual(['gguf', 'render']);
      expect(e.message).toMatch(
        /GGUF's chat template \(tokenizer\.chat_template\) cannot be rendered within agentgpu's bounds/,
      );
      expect(e.message).toMatch(why);
      expect(e.message).toContain('`template` option');
    }
  });

  it('real templates render long conversations well inside the bounds', () => {
    const long = Array.from({ length: 400 }, (_, i): ChatMessage => ({
      role: i % 2 ? 'assistant' : 'user',
      content: `turn ${i} `.repeat(200),
    }));
    for (const source of [QWEN2_5_0_5B_INSTRUCT, LLAMA3_2_1B_INSTRUCT, QWEN3_0_6B]) {
      const t = ChatTemplate.fromGguf(gguf(QWEN2, source));
      expect(t.render([{ role: 'system', content: 'Be brief.' }, ...long]).length).toBeGreaterThan(
        400 * 1700,
      );
    }
  });

  it('keeps its class and fields across the worker boundary', () => {
    expect(errorClasses.ChatTemplateError).toBe(ChatTemplateError);
    const e = catchError(() => ChatTemplate.fromGguf(gguf(QWEN2, '{% if %}')));
    const rebuilt = deserializeError({
      name: e.name,
      message: e.message,
      stack: e.stack,
      fields: { origin: e.origin, stage: e.stage },
    });
    expect(rebuilt).toBeInstanceOf(ChatTemplateError);
    expect(rebuilt).toMatchObject({ origin: 'gguf', stage: 'parse', message: e.message });
  });
});

describe('built-ins against node-llama-cpp chat wrappers', () => {
  // llama.cpp's own formats, written independently of any Jinja template. The wrappers open
  // with a BOS placeholder and leave the last (empty) assistant turn open, as a generation
  // prompt does.
  const history: ChatHistoryItem[] = [
    { type: 'system', text: SYSTEM.content },
    { type: 'user', text: TURNS[0].content },
    { type: 'model', response: [TURNS[1].content] },
    { type: 'user', text: TURNS[2].content },
    { type: 'model', response: [] },
  ];
  const wrapped = async (name: 'ChatMLChatWrapper' | 'Llama3ChatWrapper', bos: string) => {
    const llamaCpp = await import('node-llama-cpp');
    const { contextText } = new llamaCpp[name]().generateContextState({ chatHistory: history });
    return contextText.values
      .map((v) => {
        if (!(v instanceof llamaCpp.SpecialToken)) return v.toString();
        if (v.value !== 'BOS') throw new Error(`unexpected special token ${v.value}`);
        return bos;
      })
      .join('');
  };

  it('ChatML', async () => {
    const ours = ChatTemplate.fromGguf(gguf(QWEN2)).render(CONVERSATION);
    expect(ours).toBe(await wrapped('ChatMLChatWrapper', ''));
  });

  it('Llama 3', async () => {
    const ours = ChatTemplate.fromGguf(gguf(LLAMA3)).render(CONVERSATION);
    expect(ours).toBe(await wrapped('Llama3ChatWrapper', '<|begin_of_text|>'));
  });
});
