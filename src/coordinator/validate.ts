// Checks of OpenAI-shaped request parameters, shared by the engine and the edge server: each
// failure is a RequestError naming the parameter and saying what it must be.
import { RequestError } from '../errors.js';
import { GENERATION_RANGES, rangeProblem, type OptionRange } from '../model/option-ranges.js';

const ROLES = new Set(['system', 'user', 'assistant', 'tool', 'developer']);

/** Tokens one request may ask for at most, whatever the model (absurd values are errors). */
export const MAX_TOKENS_LIMIT = GENERATION_RANGES.maxTokens.max;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function number(params: Record<string, unknown>, name: string, range: OptionRange): void {
  const v = params[name];
  if (v === undefined || v === null) return;
  const problem = rangeProblem(name, v, range);
  if (problem) throw new RequestError(problem, name);
}

function stopParam(params: Record<string, unknown>): void {
  const stop = params.stop;
  if (stop === undefined || stop === null) return;
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.length > 4 || list.some((s) => typeof s !== 'string' || !s)) {
    throw new RequestError(
      'stop must be a non-empty string or an array of at most 4 of them',
      'stop',
    );
  }
}

/** Sampling and length parameters common to chat and text completions. */
function common(params: Record<string, unknown>): void {
  for (const name of ['model', 'agent'] as const) {
    const v = params[name];
    if (v !== undefined && typeof v !== 'string') {
      throw new RequestError(`${name} must be a string`, name);
    }
  }
  const r = GENERATION_RANGES;
  number(params, 'max_tokens', r.maxTokens);
  number(params, 'max_completion_tokens', r.maxTokens);
  number(params, 'temperature', r.temperature);
  number(params, 'top_p', r.topP);
  number(params, 'frequency_penalty', r.frequencyPenalty);
  number(params, 'presence_penalty', r.presencePenalty);
  number(params, 'seed', r.seed);
  number(params, 'n', { min: 1, max: 1, integer: true });
  stopParam(params);
  if (params.stream !== undefined && params.stream !== null && typeof params.stream !== 'boolean') {
    throw new RequestError('stream must be true or false', 'stream');
  }
  const options = params.stream_options;
  if (options !== undefined && options !== null && !isObject(options)) {
    throw new RequestError('stream_options must be an object', 'stream_options');
  }
  tools(params);
  const priority = params.priority;
  if (priority !== undefined && priority !== 'interactive' && priority !== 'background') {
    throw new RequestError('priority must be "interactive" or "background"', 'priority');
  }
}

/** Throws a RequestError for the first thing wrong with chat-completion parameters. */
export function checkChatParams(params: unknown): void {
  if (!isObject(params)) throw new RequestError('the request body must be a JSON object');
  common(params);
  const messages = params.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new RequestError('messages must be a non-empty array', 'messages');
  }
  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw new RequestError(`${at} must be an object`, at);
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) {
      throw new RequestError(
        `${at}.role must be one of ${[...ROLES].join(', ')}, got ${JSON.stringify(m.role)}`,
        `${at}.role`,
      );
    }
    const content = m.content;
    const parts =
      Array.isArray(content) &&
      content.every((p) => isObject(p) && p.type === 'text' && typeof p.text === 'string');
    const emptyCall = m.role === 'assistant' && content == null && Array.isArray(m.tool_calls);
    if (typeof content !== 'string' && !parts && !emptyCall) {
      throw new RequestError(
        `${at}.content must be a string (or an array of text parts)`,
        `${at}.content`,
      );
    }
    toolCalls(m, at);
    for (const key of ['name', 'tool_call_id'] as const) {
      if (m[key] != null && typeof m[key] !== 'string') {
        throw new RequestError(`${at}.${key} must be a string`, `${at}.${key}`);
      }
    }
  });
  const cont = params.continue_final_message;
  if (cont !== undefined && cont !== null && typeof cont !== 'boolean') {
    throw new RequestError(
      'continue_final_message must be true or false',
      'continue_final_message',
    );
  }
}

/** Whether `list` is an array of { function: { name, ... } } whose functions pass `check`. */
function namedFunctions(list: unknown, check: (f: Record<string, unknown>) => boolean): boolean {
  return (
    Array.isArray(list) &&
    list.every(
      (item) =>
        isObject(item) &&
        isObject(item.function) &&
        typeof item.function.name === 'string' &&
        check(item.function),
    )
  );
}

/** tools, OpenAI's function definitions, and tool_choice. */
function tools(params: Record<string, unknown>): void {
  const list = params.tools;
  if (list != null) {
    const schema = (f: Record<string, unknown>) =>
      f.parameters == null || isObject(f.parameters) || typeof f.parameters === 'boolean';
    if (!namedFunctions(list, schema)) {
      throw new RequestError(
        'tools must be an array of { type: "function", function: { name, description, ' +
          'parameters } }, parameters a JSON schema',
        'tools',
      );
    }
  }
  const choice = params.tool_choice;
  const named =
    isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string';
  if (choice != null && !['auto', 'none', 'required'].includes(choice as string) && !named) {
    throw new RequestError(
      'tool_choice must be "auto", "none", "required" or { type: "function", function: { name } }',
      'tool_choice',
    );
  }
}

/** An assistant message's tool_calls: OpenAI's { id, type, function: { name, arguments } }. */
function toolCalls(m: Record<string, unknown>, at: string): void {
  const calls = m.tool_calls;
  if (calls == null) return;
  const args = (f: Record<string, unknown>) =>
    typeof f.arguments === 'string' || isObject(f.arguments);
  if (!namedFunctions(calls, args)) {
    throw new RequestError(
      `${at}.tool_calls must be an array of { id, type: "function", function: { name, ` +
        'arguments } }, arguments a JSON string',
      `${at}.tool_calls`,
    );
  }
  if (m.role !== 'assistant') {
    throw new RequestError(`${at}: only an assistant message has tool_calls`, `${at}.tool_calls`);
  }
}

/** Throws a RequestError for the first thing wrong with text-completion parameters. */
export function checkCompletionParams(params: unknown): void {
  if (!isObject(params)) throw new RequestError('the request body must be a JSON object');
  common(params);
  const prompt = params.prompt;
  if (typeof prompt !== 'string' && !(Array.isArray(prompt) && prompt.length === 1)) {
    throw new RequestError('prompt must be a string (one prompt a request)', 'prompt');
  }
  if (Array.isArray(prompt) && typeof prompt[0] !== 'string') {
    throw new RequestError('prompt must be a string (one prompt a request)', 'prompt');
  }
}

/** Throws a RequestError for the first thing wrong with embedding parameters. */
export function checkEmbeddingParams(params: unknown): void {
  if (!isObject(params)) throw new RequestError('the request body must be a JSON object');
  if (typeof params.model !== 'string') throw new RequestError('model must be a string', 'model');
  const input = params.input;
  const ok =
    (typeof input === 'string' && input.length > 0) ||
    (Array.isArray(input) &&
      input.length > 0 &&
      input.length <= 2048 &&
      input.every((s) => typeof s === 'string' && s.length > 0));
  if (!ok) {
    throw new RequestError(
      'input must be a non-empty string or an array of 1..2048 non-empty strings',
      'input',
    );
  }
  const format = params.encoding_format;
  if (format !== undefined && format !== 'float' && format !== 'base64') {
    throw new RequestError('encoding_format must be "float" or "base64"', 'encoding_format');
  }
}

/** A message's text: its string, or its text parts joined. */
export function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p: { text: string }) => p.text).join('');
  return '';
}
