import { RequestError } from '../../errors.js';
import type { JsonSchema } from '../grammar/json-schema.js';

// OpenAI-shaped tool calling over a model's own chat template: the tools go into the template
// (as transformers' apply_chat_template passes them), the reply is parsed for the calls in the
// form the template taught the model, and a required call is generated under a grammar.

/** An OpenAI tool definition (function tools). */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters?: JsonSchema; strict?: boolean };
}

/** 'auto' (default with tools), 'none', 'required', or one function by name. */
export type ToolChoice =
  'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** A call the model made: the function's name and its arguments (parsed JSON). */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/**
 * How a template asks for calls. 'hermes' (Qwen 2.5/3, Hermes, SmolLM3): `<tool_call>{json}
 * </tool_call>` blocks; 'mistral': `[TOOL_CALLS][{...}]`; 'json' (Llama 3.x and the rest): the
 * reply is one JSON object {"name", "parameters" or "arguments"}.
 */
export type ToolCallStyle = 'hermes' | 'mistral' | 'json';

export function toolCallStyle(templateSource: string): ToolCallStyle {
  if (templateSource.includes('<tool_call>')) return 'hermes';
  if (templateSource.includes('[TOOL_CALLS]')) return 'mistral';
  return 'json';
}

/** Whether a template renders the `tools` it is given at all. */
export function templateTakesTools(templateSource: string): boolean {
  return /\btools\b/.test(templateSource);
}

/** Checks tool definitions: function tools with unique names. */
export function checkTools(tools: readonly ToolDefinition[]): void {
  const names = new Set<string>();
  for (const [i, tool] of tools.entries()) {
    if (
      tool?.type !== 'function' ||
      typeof tool.function?.name !== 'string' ||
      !tool.function.name
    ) {
      throw new RequestError(
        `tools[${i}] must be { type: 'function', function: { name, ... } }`,
        'tools',
      );
    }
    if (names.has(tool.function.name)) {
      throw new RequestError(
        `tools[${i}]: the name "${tool.function.name}" is used twice`,
        'tools',
      );
    }
    names.add(tool.function.name);
  }
}

/** The tools a choice allows a call to (all of them, or the one named). */
export function chosenTools(
  tools: readonly ToolDefinition[],
  choice: ToolChoice,
): ToolDefinition[] {
  if (typeof choice === 'object') {
    const tool = tools.find((t) => t.function.name === choice.function.name);
    if (!tool) {
      throw new RequestError(
        `tool_choice names "${choice.function.name}", which is not among the tools`,
        'tool_choice',
      );
    }
    return [tool];
  }
  return [...tools];
}

/** The schema of one call's JSON: {"name": <one of the tools>, "arguments": <its parameters>}. */
export function toolCallSchema(tools: readonly ToolDefinition[]): JsonSchema {
  return {
    anyOf: tools.map((t) => ({
      type: 'object',
      properties: {
        name: { const: t.function.name },
        arguments: t.function.parameters ?? { type: 'object' },
      },
      required: ['name', 'arguments'],
    })),
  };
}

/** What a forced call's JSON is wrapped in, for the style: [before, after]. */
export function callWrapper(style: ToolCallStyle): [string, string] {
  if (style === 'hermes') return ['<tool_call>\n', '\n</tool_call>'];
  if (style === 'mistral') return ['[TOOL_CALLS][', ']'];
  return ['', ''];
}

/** A JSON object from `text`, or undefined when it is not one. */
function objectOf(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text.trim());
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A call from a parsed object, when it names one of `tools` and its arguments are an object. */
function callOf(value: unknown, names: ReadonlySet<string>): ToolCall | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const name = v.name;
  let args = v.arguments ?? v.parameters ?? {};
  if (typeof args === 'string') args = objectOf(args) ?? args;
  if (typeof name !== 'string' || !names.has(name)) return undefined;
  if (!args || typeof args !== 'object' || Array.isArray(args)) return undefined;
  return { name, arguments: args as Record<string, unknown> };
}

/**
 * The calls in a reply, and the text around them (null when the reply was only calls). Text
 * that looks like a call but names no tool, or does not parse, stays text.
 */
export function parseToolCalls(
  text: string,
  style: ToolCallStyle,
  tools: readonly ToolDefinition[],
): { content: string | null; calls: ToolCall[] } {
  const names = new Set(tools.map((t) => t.function.name));
  const calls: ToolCall[] = [];
  let rest = text;
  if (style === 'hermes') {
    rest = text.replace(/<tool_call>([\s\S]*?)<\/tool_call>/g, (whole, body: string) => {
      const call = callOf(objectOf(body), names);
      if (!call) return whole;
      calls.push(call);
      return '';
    });
  } else if (style === 'mistral') {
    const at = text.indexOf('[TOOL_CALLS]');
    if (at >= 0) {
      try {
        const list: unknown = JSON.parse(text.slice(at + '[TOOL_CALLS]'.length).trim());
        const found = Array.isArray(list) ? list.map((v) => callOf(v, names)) : [];
        if (found.length > 0 && found.every(Boolean)) {
          calls.push(...(found as ToolCall[]));
          rest = text.slice(0, at);
        }
      } catch {
        // not a call list: text
      }
    }
  } else {
    const body = text.replace(/^<\|python_tag\|>/, '');
    const call = callOf(objectOf(body), names);
    if (call) {
      calls.push(call);
      rest = '';
    }
  }
  const content = rest.trim();
  return {
    content: calls.length > 0 && content === '' ? null : content || (calls.length ? null : ''),
    calls,
  };
}
