// The OpenAI chat-completions shapes the engine speaks (the subset a local engine can honour),
// so code written against the openai package's types moves over unchanged.
import type { ChatMessage } from '../model/chat/index.js';
import type { ToolChoice, ToolDefinition } from '../model/chat/tools.js';
import type { MemoryPrompt } from '../memory/prompt.js';

/** A call in a reply, as OpenAI shapes it (arguments as a JSON string). */
export interface ChatCompletionMessageToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatCompletionCreateParamsBase {
  /** A model id (engine.models.list()) or an agent's name. */
  model?: string;
  /** An agent's name: its system prompt, model, session and limits apply. */
  agent?: string;
  messages: ChatMessage[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  /** Default 1, as OpenAI's. 0 is greedy. */
  temperature?: number | null;
  top_p?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  n?: number | null;
  /**
   * json_object: the reply is a JSON object; json_schema: it matches `json_schema.schema`
   * (grammar-constrained sampling; the subset in model/grammar/json-schema.ts).
   */
  response_format?:
    | { type: 'text' }
    | { type: 'json_object' }
    | {
        type: 'json_schema';
        json_schema: { name?: string; schema: Record<string, unknown>; strict?: boolean | null };
      };
  /** Function tools; the model's chat template must render them. */
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  stream_options?: { include_usage?: boolean } | null;
  /** agentgpu: 'background' work waits behind 'interactive' (default: the agent's role). */
  priority?: 'interactive' | 'background';
  /**
   * vLLM's and llama.cpp's: the last message is the assistant's unfinished reply, to be
   * continued (not answered): the reply holds only the new text.
   */
  continue_final_message?: boolean | null;
}

export interface ChatCompletionCreateParamsNonStreaming extends ChatCompletionCreateParamsBase {
  stream?: false | null;
}

export interface ChatCompletionCreateParamsStreaming extends ChatCompletionCreateParamsBase {
  stream: true;
}

export type ChatCompletionCreateParams =
  ChatCompletionCreateParamsNonStreaming | ChatCompletionCreateParamsStreaming;

/** As the openai package's second argument: an AbortSignal cancels the request. */
export interface RequestOptions {
  signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** agentgpu: prompt tokens whose KV the cache already held. */
  prompt_tokens_details?: { cached_tokens: number };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: {
      role: 'assistant';
      content: string | null;
      refusal: null;
      tool_calls?: ChatCompletionMessageToolCall[];
    };
    finish_reason: FinishReason;
    logprobs: null;
  }[];
  usage: CompletionUsage;
  system_fingerprint: string;
  /** agentgpu: what long-term memory added to the prompt, and why (agents with memory). */
  agentgpu?: { memory: MemoryPrompt };
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    delta: {
      role?: 'assistant';
      content?: string | null;
      tool_calls?: (ChatCompletionMessageToolCall & { index: number })[];
    };
    finish_reason: FinishReason | null;
    logprobs: null;
  }[];
  usage?: CompletionUsage | null;
  system_fingerprint: string;
}

/** A streamed completion: iterate for chunks; abort() cancels it (as openai's Stream). */
export interface ChatCompletionStream extends AsyncIterable<ChatCompletionChunk> {
  readonly controller: AbortController;
}

export interface Model {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** A raw text completion (OpenAI's legacy /v1/completions): a model, not an agent. */
export interface CompletionCreateParams extends Omit<
  ChatCompletionCreateParamsBase,
  'messages' | 'agent' | 'tools' | 'tool_choice'
> {
  model: string;
  /** One prompt (a string, or an array holding one string). */
  prompt: string | [string];
  stream?: boolean | null;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: { text: string; index: number; logprobs: null; finish_reason: FinishReason | null }[];
  usage?: CompletionUsage | null;
  system_fingerprint: string;
}

/** A streamed text completion: chunks of the Completion shape. */
export interface CompletionStream extends AsyncIterable<Completion> {
  readonly controller: AbortController;
}

export interface EmbeddingCreateParams {
  model: string;
  input: string | string[];
  encoding_format?: 'float' | 'base64';
}

export interface CreateEmbeddingResponse {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}
