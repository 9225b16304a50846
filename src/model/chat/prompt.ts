import { RequestError } from '../../errors.js';
import type { ResponseFormat } from '../grammar/constraint.js';
import type { Tokenizer } from '../tokenizer/index.js';
import type { ChatTemplate } from './template.js';
import type { ChatMessage } from './template.js';
import {
  callWrapper,
  checkTools,
  chosenTools,
  parseToolCalls,
  templateTakesTools,
  toolCallSchema,
  toolCallStyle,
  type ToolCall,
  type ToolChoice,
  type ToolDefinition,
} from './tools.js';

// A generation's prompt tokens: raw text as llama.cpp tokenizes a completion, chat messages
// through the model's template, tools rendered into it (a forced call opening the reply), and
// a continued conversation's next turn rendered after the turns its cache holds.

/** A message as chat templates read it: a call's arguments as an object, not a JSON string. */
export function forTemplate(m: ChatMessage): ChatMessage {
  if (!m.tool_calls) return m;
  return {
    ...m,
    tool_calls: m.tool_calls.map((c) => ({
      ...c,
      function: {
        ...c.function,
        arguments:
          typeof c.function.arguments === 'string'
            ? ((safeJson(c.function.arguments) as Record<string, unknown> | undefined) ??
              c.function.arguments)
            : c.function.arguments,
      },
    })),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The calls in a finished reply: a forced call is its bare JSON; otherwise as the style has them. */
export function toolCallsOf(
  text: string,
  tools: ToolPlan,
): { toolCalls: ToolCall[]; content: string | null } {
  const parsed = parseToolCalls(text, tools.forced ? 'json' : tools.style, tools.list);
  return { toolCalls: parsed.calls, content: parsed.content };
}

/** What generate() takes: raw text, chat messages, or token ids. */
export type PromptInput = string | readonly ChatMessage[] | readonly number[];

export const isTokens = (input: PromptInput): input is readonly number[] =>
  Array.isArray(input) && (input.length === 0 || typeof input[0] === 'number');

/** The tools offered, the template's call format, and whether the reply is a forced call. */
export interface ToolPlan {
  list: readonly ToolDefinition[];
  style: ReturnType<typeof toolCallStyle>;
  forced: boolean;
}

/** What of a generation's options shapes its prompt. */
export interface PromptOptions {
  tools?: readonly ToolDefinition[];
  toolChoice?: ToolChoice;
  /** The start of the reply, continued (chat messages only). */
  assistantPrefix?: string;
  responseFormat?: ResponseFormat;
}

/** A prompt with what tools change: the format its reply is held to, the tools' plan. */
export interface ToolPrompt {
  prompt: number[];
  format: ResponseFormat | undefined;
  tools?: ToolPlan;
}

/** What a continued conversation keeps between turns (a session of LanguageModel). */
export interface Conversation {
  /** Every token its cache was fed, in order. */
  history: number[];
  /** The conversation so far, its last reply included. */
  transcript?: ChatMessage[];
  /** Reply tokens sampled but never fed: fed with the next turn. */
  unfed: number[];
}

export class PromptBuilder {
  constructor(
    private readonly tokenizer: Tokenizer,
    readonly template: ChatTemplate,
  ) {}

  /**
   * Prompt token ids: a string as llama.cpp tokenizes a raw completion (BOS when the model
   * says so, special-token text kept as text); messages through the chat template, `tools`
   * passed to it; `suffix` after (the start of the reply).
   */
  tokens(
    input: PromptInput,
    tools: readonly ToolDefinition[] | undefined,
    suffix: string,
  ): number[] {
    if (isTokens(input)) return [...input, ...this.tokenizer.encode(suffix, { addSpecial: false })];
    if (typeof input === 'string') return this.tokenizer.encode(input + suffix);
    const messages = input.map(forTemplate);
    const variables = tools ? { tools } : undefined;
    const text = this.template.render(messages, { addGenerationPrompt: true, variables });
    return this.tokenizer.encode(text + suffix, {
      addSpecial: !this.template.rendersBos,
      special: true,
    });
  }

  /**
   * The prompt of a generation with tools, and what it changes: a forced call's wrapper opens
   * the reply in the prompt and a grammar holds the call's JSON to the tools' schemas.
   */
  withTools(input: PromptInput, o: PromptOptions): ToolPrompt {
    const tools = o.tools;
    const choice = o.toolChoice ?? 'auto';
    const prefix = o.assistantPrefix ?? '';
    if (prefix && (typeof input === 'string' || isTokens(input))) {
      throw new RequestError('assistantPrefix continues a chat reply: pass messages', 'messages');
    }
    if (!tools || tools.length === 0 || choice === 'none') {
      return { prompt: this.tokens(input, undefined, prefix), format: o.responseFormat };
    }
    if (prefix) throw new RequestError('a continued reply cannot also call tools', 'tools');
    checkTools(tools);
    if (typeof input === 'string' || isTokens(input)) {
      throw new RequestError('tools need chat messages, not a raw prompt', 'tools');
    }
    if (!templateTakesTools(this.template.source)) {
      throw new RequestError(
        "this model's chat template does not render tools: pass a template that does " +
          '(chatTemplate), or leave tools out',
        'tools',
      );
    }
    const style = toolCallStyle(this.template.source);
    if (choice === 'auto') {
      return {
        prompt: this.tokens(input, tools, ''),
        format: o.responseFormat,
        tools: { list: tools, style, forced: false },
      };
    }
    const [before] = callWrapper(style);
    return {
      prompt: this.tokens(input, tools, before),
      format: { type: 'json_schema', schema: toolCallSchema(chosenTools(tools, choice)) } as const,
      tools: { list: tools, style, forced: true },
    };
  }

  /**
   * A continued conversation's prompt: its history, the reply tokens never fed, then the new
   * turn rendered after the last message (the template renders [system, last] and
   * [system, last, ...turn] and the difference is the new text). A template whose output
   * does not extend that way renders the whole transcript instead.
   */
  turn(session: Conversation, turn: readonly ChatMessage[]): number[] {
    const t = session.transcript;
    // A turn may restate the system prompt the conversation began with: it is there already.
    if (
      t?.[0]?.role === 'system' &&
      turn[0]?.role === 'system' &&
      turn[0].content === t[0].content
    ) {
      turn = turn.slice(1);
    }
    if (!t || t.length === 0 || session.history.length === 0) {
      session.transcript = [...turn];
      return this.tokens(turn, undefined, '');
    }
    const last = t[t.length - 1];
    const context = t[0].role === 'system' && t.length > 1 ? [t[0], last] : [last];
    const before = this.template.render(context.map(forTemplate), { addGenerationPrompt: false });
    const after = this.template.render([...context, ...turn].map(forTemplate), {
      addGenerationPrompt: true,
    });
    session.transcript = [...t, ...turn];
    // The cache ends with the last reply's text: what follows it (its end-of-turn marker, the
    // new turn, the generation prompt) is new. Where the text sits is found with a marker in
    // its place (a reply may be empty, or occur earlier in the prompt).
    const marker = '\u2063agentgpu-reply\u2063';
    const marked = this.template.render(
      context.map((m, i) => forTemplate(i === context.length - 1 ? { ...m, content: marker } : m)),
      { addGenerationPrompt: false },
    );
    const start = marked.indexOf(marker);
    const end = start + last.content.length;
    const fits =
      last.role === 'assistant' &&
      start >= 0 &&
      before.slice(start, end) === last.content &&
      after.startsWith(before.slice(0, end));
    if (!fits) return this.tokens(session.transcript, undefined, '');
    const rest = this.tokenizer.encode(after.slice(end), { addSpecial: false, special: true });
    return [...session.history, ...session.unfed, ...rest];
  }
}
