import { Template } from '@huggingface/jinja';
import { ChatTemplateError, type ChatTemplateOrigin } from '../../errors.js';
import type { GgufValue } from '../gguf/types.js';
import { RenderBoundError, renderBounded } from './bounded-render.js';
import { builtinTemplateFor, builtinTemplates, type BuiltinTemplateName } from './builtin.js';
import { chatVocabularyFromGguf, type ChatVocabulary } from './vocabulary.js';

/** One message of a conversation, in the OpenAI chat shape. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** An assistant's calls (OpenAI: arguments as a JSON string; templates get an object). */
  tool_calls?: {
    id?: string;
    type?: 'function';
    function: { name: string; arguments: string | Record<string, unknown> };
  }[];
  /** A tool message: the call it answers. */
  tool_call_id?: string;
  name?: string;
}

export interface ChatTemplateOptions {
  /** A Jinja chat template to use instead of the GGUF's tokenizer.chat_template. */
  template?: string;
}

export interface ChatRenderOptions {
  /** End with the header that opens the assistant's turn, for generating it (default true). */
  addGenerationPrompt?: boolean;
  /**
   * More template variables, as transformers' apply_chat_template passes its extra arguments:
   * `tools`, `enable_thinking` (Qwen3), `date_string` (Llama 3.1+, which otherwise prints
   * today's date), ... They may override bos_token and the other special tokens, not `messages`
   * or `add_generation_prompt`.
   */
  variables?: Readonly<Record<string, unknown>>;
}

export interface ChatTemplateInit {
  /** The Jinja text, as in tokenizer_config.json's chat_template. */
  source: string;
  /** The special tokens the template prints and the vocabulary that stop tokens come from. */
  vocabulary: ChatVocabulary;
  origin?: ChatTemplateOrigin;
  /** Which built-in `source` is, when origin is 'builtin'. */
  builtin?: BuiltinTemplateName;
}

// Tokens that end a turn or the whole text, by text: those llama.cpp treats as end of
// generation (llama-vocab.cpp) beside EOS. A vocabulary that has one as a special token was tuned
// to emit it, so generation stops there whatever the template prints.
const END_OF_TURN_TOKENS = [
  '<|im_end|>',
  '<|eot_id|>',
  '<|eom_id|>',
  '<|end_of_text|>',
  '<|endoftext|>',
  '<|end|>',
  '<end_of_turn>',
  '<EOT>',
];

/**
 * A model's chat template: renders a conversation into the prompt text the model was tuned on,
 * with @huggingface/jinja (the same Jinja subset transformers.js runs). Built from a GGUF by
 * `ChatTemplate.fromGguf`: its tokenizer.chat_template, else a built-in for its family.
 */
export class ChatTemplate {
  /** The Jinja text being rendered. */
  readonly source: string;
  /** Whose template it is: the GGUF's, the caller's override, or agentgpu's built-in. */
  readonly origin: ChatTemplateOrigin;
  /** Which built-in template, when origin is 'builtin'. */
  readonly builtin: BuiltinTemplateName | undefined;
  /**
   * Texts of the tokens that end the assistant's turn: EOS, then the end-of-turn tokens the
   * vocabulary has (`<|im_end|>`, `<|eot_id|>`, ...). Generation stops at any of them.
   */
  readonly stopTokens: readonly string[];
  /** The ids of `stopTokens`, in the same order. */
  readonly stopTokenIds: readonly number[];
  /**
   * Whether the rendered text starts with the BOS token's text. Llama 2 and Llama 3 templates
   * print bos_token themselves (and SmolLM2's BOS is its `<|im_start|>`), so the caller must not
   * add another: tokenize with `encode(text, { addSpecial: !rendersBos, special: true })`.
   * Found by rendering a one-message conversation.
   */
  readonly rendersBos: boolean;
  /**
   * Whether the template prints a system message. One that rejects it (Gemma 2's raises "System
   * role not supported", Mistral v0.2's that roles must alternate) or drops it (Phi-3-mini's)
   * gets the system text folded into the next user message, `system + "\n" + user`, as
   * llama.cpp's chat templates do (its --jinja path, which llama-server uses).
   */
  readonly supportsSystemRole: boolean;
  private readonly vocabulary: ChatVocabulary;
  private readonly compiled: Template;

  constructor({ source, vocabulary, origin = 'override', builtin }: ChatTemplateInit) {
    this.source = source;
    this.origin = origin;
    this.builtin = builtin;
    this.vocabulary = vocabulary;
    try {
      this.compiled = new Template(source);
    } catch (cause) {
      throw new ChatTemplateError(
        origin,
        'parse',
        `${this.describe()} does not parse: ${messageOf(cause)}. ${remedy(origin, 'parse')}`,
        { cause },
      );
    }
    const stops = new Map<string, number>();
    if (vocabulary.eos !== undefined && vocabulary.eosId !== undefined) {
      stops.set(vocabulary.eos, vocabulary.eosId);
    }
    for (const text of END_OF_TURN_TOKENS) {
      const id = vocabulary.specialTokenId(text);
      if (id !== undefined && !stops.has(text)) stops.set(text, id);
    }
    this.stopTokens = [...stops.keys()];
    this.stopTokenIds = [...stops.values()];
    this.supportsSystemRole = this.probeSystemRole();
    this.rendersBos = this.probeBos();
  }

  /**
   * The template for a GGUF model: `options.template` if given, else the file's
   * tokenizer.chat_template, else the built-in for its family (see builtinTemplateFor).
   */
  static fromGguf(
    metadata: ReadonlyMap<string, GgufValue>,
    options: ChatTemplateOptions = {},
  ): ChatTemplate {
    const vocabulary = chatVocabularyFromGguf(metadata);
    if (options.template !== undefined) {
      return new ChatTemplate({ source: options.template, vocabulary, origin: 'override' });
    }
    const own = metadata.get('tokenizer.chat_template');
    if (typeof own === 'string' && own.trim() !== '') {
      return new ChatTemplate({ source: own, vocabulary, origin: 'gguf' });
    }
    const architecture = metadata.get('general.architecture');
    const arch = typeof architecture === 'string' ? architecture : undefined;
    const builtin = builtinTemplateFor(arch, (t) => vocabulary.specialTokenId(t) !== undefined);
    if (!builtin) {
      throw new ChatTemplateError(
        'gguf',
        'missing',
        `the GGUF has no chat template (tokenizer.chat_template) and agentgpu has no built-in ` +
          `one for architecture "${arch ?? 'unknown'}": pass the model's template as the ` +
          '`template` option (the chat_template of its tokenizer_config.json)',
      );
    }
    return new ChatTemplate({
      source: builtinTemplates[builtin],
      vocabulary,
      origin: 'builtin',
      builtin,
    });
  }

  /** The prompt text for `messages`. Throws ChatTemplateError when the template fails. */
  render(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
    const { addGenerationPrompt = true, variables } = options;
    const v = this.vocabulary;
    const conversation = this.supportsSystemRole ? messages : foldSystemMessages(messages);
    try {
      return renderBounded(this.compiled, {
        // What transformers passes: the special tokens by name ('' when the model has none,
        // so `bos_token + ...` still works), the caller's extras, then the conversation.
        bos_token: v.bos ?? '',
        eos_token: v.eos ?? '',
        unk_token: v.unk ?? '',
        pad_token: v.pad ?? '',
        ...variables,
        messages: conversation,
        add_generation_prompt: addGenerationPrompt,
      });
    } catch (cause) {
      if (cause instanceof RenderBoundError) this.refuseUnbounded(cause);
      throw new ChatTemplateError(
        this.origin,
        'render',
        `${this.describe()} failed to render ${messages.length} message(s): ` +
          `${messageOf(cause)}. ${remedy(this.origin, 'render')}`,
        { cause },
      );
    }
  }

  private refuseUnbounded(cause: RenderBoundError): never {
    throw new ChatTemplateError(
      this.origin,
      'render',
      `${this.describe()} cannot be rendered within agentgpu's bounds: ${cause.message}. ` +
        remedy(this.origin, 'bounds'),
      { cause },
    );
  }

  private describe(): string {
    if (this.origin === 'gguf') return "the GGUF's chat template (tokenizer.chat_template)";
    if (this.origin === 'builtin') return `agentgpu's built-in ${this.builtin} chat template`;
    return 'the chat template override';
  }

  /** As llama.cpp finds it: does a system message's text appear in the rendered prompt? */
  private probeSystemRole(): boolean {
    const needle = '<System Needle>';
    try {
      const text = renderBounded(this.compiled, {
        bos_token: this.vocabulary.bos ?? '',
        eos_token: this.vocabulary.eos ?? '',
        messages: [
          { role: 'system', content: needle },
          { role: 'user', content: '<User Needle>' },
        ],
        add_generation_prompt: false,
      });
      return text.includes(needle);
    } catch (error) {
      // A template past the bounds fails here, at load, not at the first prompt.
      if (error instanceof RenderBoundError) this.refuseUnbounded(error);
      return false;
    }
  }

  private probeBos(): boolean {
    const bos = this.vocabulary.bos;
    if (!bos) return false;
    try {
      return this.render([{ role: 'user', content: 'Hi' }]).startsWith(bos);
    } catch {
      // A template that rejects a lone user message: judge by whether it prints BOS at all.
      return /\bbos_token\b/.test(this.source);
    }
  }
}

/**
 * The conversation for a template without a system role: each system message's text joins the
 * next user message's (`system + "\n" + user`, several systems joined by "\n"), or becomes a
 * user message of its own when an assistant or tool message comes first, or none follows.
 */
export function foldSystemMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  let pending: string | undefined;
  for (const message of messages) {
    if (message.role === 'system') {
      pending = pending === undefined ? message.content : `${pending}\n${message.content}`;
      continue;
    }
    if (pending !== undefined) {
      if (message.role === 'user') {
        const content = message.content ? `${pending}\n${message.content}` : pending;
        out.push({ ...message, content });
        pending = undefined;
        continue;
      }
      out.push({ role: 'user', content: pending });
      pending = undefined;
    }
    out.push(message);
  }
  if (pending !== undefined) out.push({ role: 'user', content: pending });
  return out;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function remedy(origin: ChatTemplateOrigin, stage: 'parse' | 'render' | 'bounds'): string {
  const override = 'pass a working template as the `template` option of ChatTemplate.fromGguf';
  if (origin === 'override') return "Fix the template, or leave the option out to use the model's";
  if (stage === 'parse')
    return `The file's template is broken or uses unsupported Jinja: ${override}`;
  if (stage === 'bounds') return `The file's template is broken or hostile: ${override}`;
  return (
    'If the template rejects this conversation (e.g. roles must alternate), change the ' +
    `messages; otherwise ${override}`
  );
}
