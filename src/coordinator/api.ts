import { AgentGpuError, ModelNotFoundError, RequestError } from '../errors.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageToolCall,
  ChatCompletionStream,
  Completion,
  CompletionCreateParams,
  CompletionStream,
  CreateEmbeddingResponse,
  EmbeddingCreateParams,
  FinishReason,
  Model,
  RequestOptions,
} from '../api/openai.js';
import type { ChatMessage } from '../model/chat/index.js';
import type { ResponseFormat } from '../model/grammar/constraint.js';
import type { JsonSchema } from '../model/grammar/json-schema.js';
import type { GeneratedToken, GenerationResult } from '../model/language-model.js';
import type { Embedder } from '../memory/onnx-embedder.js';
import { PushQueue } from '../util/push-queue.js';
import type { WorkerGenerateOptions } from '../worker/protocol.js';
import { agentSession, type AgentDefinition } from './agent.js';
import type { HostPool } from './host-pool.js';
import type { RequestOutcome, ResolvedRequest } from './run-request.js';
import {
  checkChatParams,
  checkCompletionParams,
  checkEmbeddingParams,
  messageText,
} from './validate.js';

// The OpenAI surface: chat completions (whole or streamed, with tools and response formats),
// text completions, embeddings and the model list, each request resolved to its model, host,
// agent and generation options and answered in OpenAI's shapes.

/** Tokens one embeddings request may hold (inputs × their lengths). */
const EMBEDDING_TOKENS_LIMIT = 65_536;

/** Inputs embedded per host call, between checks of the request's signal. */
const EMBEDDINGS_PER_CALL = 4;

export interface OpenAiApiOptions {
  pool: HostPool;
  agents: ReadonlyMap<string, Readonly<AgentDefinition>>;
  /** The engine's sentence embedder, served under its own id. */
  embedder?: Embedder;
  /** Runs a resolved request (run-request.ts). */
  run: (
    request: ResolvedRequest,
    signal: AbortSignal | undefined,
    onToken: (token: GeneratedToken) => void,
  ) => Promise<RequestOutcome>;
  /** Throws QueueFullError when the request's queue is full (before a stream starts). */
  admit: (request: ResolvedRequest) => void;
  closed: () => boolean;
  /** Request ids are `${idPrefix}-N`. */
  idPrefix: string;
}

export class OpenAiApi {
  private readonly created = Math.floor(Date.now() / 1000);
  private requests = 0;

  constructor(private readonly options: OpenAiApiOptions) {}

  async chat(
    params: ChatCompletionCreateParams,
    request: RequestOptions = {},
  ): Promise<ChatCompletion | ChatCompletionStream> {
    // Not an object (a body of null): refused as resolve() would, before .stream is read;
    // resolve() checks the rest once.
    if (typeof params !== 'object' || params === null) checkChatParams(params);
    return params.stream ? this.stream(params, request) : this.complete(params, request);
  }

  async complete(
    params: ChatCompletionCreateParamsNonStreaming,
    request: RequestOptions,
  ): Promise<ChatCompletion> {
    const {
      id,
      model,
      result,
      recalled,
      usage: cloud,
    } = await this.options.run(this.resolve(params), request.signal, () => {});
    const calls = toolCalls(id, result);
    return {
      id,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: calls ? (result.content ?? null) : result.text,
            refusal: null,
            ...(calls && { tool_calls: calls }),
          },
          finish_reason: calls ? 'tool_calls' : (result.finishReason satisfies FinishReason),
          logprobs: null,
        },
      ],
      usage: cloud ?? usage(result),
      system_fingerprint: 'agentgpu',
      ...(recalled && { agentgpu: { memory: recalled } }),
    };
  }

  async textCompletion(
    params: CompletionCreateParams,
    request: RequestOptions = {},
  ): Promise<Completion | CompletionStream> {
    checkCompletionParams(params);
    if (
      this.options.agents.has(params.model) ||
      (params as { agent?: unknown }).agent !== undefined
    ) {
      throw new RequestError('text completions take a model, not an agent', 'model');
    }
    const prompt = typeof params.prompt === 'string' ? params.prompt : params.prompt[0];
    const chatParams = { ...params, messages: [] } as ChatCompletionCreateParams;
    const resolved = this.resolve(chatParams, prompt);
    const completion = (
      choice: Omit<Completion['choices'][0], 'index' | 'logprobs'>,
      extra: Partial<Completion> = {},
    ): Completion => ({
      id: resolved.id,
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: resolved.model,
      choices: [{ index: 0, logprobs: null, ...choice }],
      system_fingerprint: 'agentgpu',
      ...extra,
    });
    if (!params.stream) {
      const { result } = await this.options.run(resolved, request.signal, () => {});
      return completion(
        { text: result.text, finish_reason: result.finishReason },
        { usage: usage(result) },
      );
    }
    const chat = await this.stream(
      { ...chatParams, stream: true } as ChatCompletionCreateParamsStreaming,
      request,
      resolved,
    );
    return {
      controller: chat.controller,
      async *[Symbol.asyncIterator]() {
        for await (const c of chat) {
          if (c.usage) {
            yield { ...completion({ text: '', finish_reason: null }), choices: [], usage: c.usage };
            continue;
          }
          const { delta, finish_reason } = c.choices[0];
          if (!delta.content && !finish_reason) continue;
          yield completion({ text: delta.content ?? '', finish_reason });
        }
      },
    };
  }

  async embed(
    params: EmbeddingCreateParams,
    request: RequestOptions = {},
  ): Promise<CreateEmbeddingResponse> {
    if (this.options.closed()) throw new AgentGpuError('the engine is closed');
    checkEmbeddingParams(params);
    const { pool, embedder } = this.options;
    const input = typeof params.input === 'string' ? [params.input] : params.input;
    let vectors: Float32Array[];
    let tokens: number;
    if (embedder && params.model === embedder.id) {
      vectors = await embedder.embed(input);
      tokens = input.reduce((n, t) => n + Math.ceil(t.length / 4), 0);
    } else {
      const slot = pool.slotOf(params.model);
      if (!slot) {
        throw new ModelNotFoundError(
          `no model "${params.model}" to embed with (models: ${pool.models().join(', ')}` +
            `${embedder ? `, ${embedder.id}` : ''})`,
          'model',
        );
      }
      await slot.ready;
      const signal = request.signal;
      signal?.throwIfAborted();
      const counts = await pool.call(slot, (h) => h.countTokens(params.model, [...input]));
      tokens = counts.reduce((a, b) => a + b, 0);
      if (tokens > EMBEDDING_TOKENS_LIMIT) {
        throw new RequestError(
          `the input is ${tokens} tokens; one embeddings request takes at most ` +
            `${EMBEDDING_TOKENS_LIMIT}: split it`,
          'input',
        );
      }
      // A few inputs a call, the request's signal checked between: a client that went away
      // stops its embeddings, and generations waiting on the host get their turn.
      vectors = [];
      for (let i = 0; i < input.length; i += EMBEDDINGS_PER_CALL) {
        signal?.throwIfAborted();
        const part = input.slice(i, i + EMBEDDINGS_PER_CALL);
        vectors.push(...(await pool.call(slot, (h) => h.embed(params.model, part))));
      }
    }
    return {
      object: 'list',
      data: vectors.map((v, index) => ({
        object: 'embedding',
        index,
        embedding:
          params.encoding_format === 'base64'
            ? base64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
            : Array.from(v),
      })),
      model: params.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    };
  }

  modelList(): Model[] {
    return this.options.pool.models().map((id) => ({
      id,
      object: 'model',
      created: this.created,
      owned_by: 'agentgpu',
    }));
  }

  async stream(
    params: ChatCompletionCreateParamsStreaming,
    request: RequestOptions,
    resolved = this.resolve(params),
  ): Promise<ChatCompletionStream> {
    // A full queue rejects create() itself (a 429), never a stream that ends in an error.
    this.options.admit(resolved);
    const controller = new AbortController();
    const signal = request.signal
      ? AbortSignal.any([request.signal, controller.signal])
      : controller.signal;
    const queue = new PushQueue<ChatCompletionChunk>();
    // The request was resolved first: a bad one rejects create() itself, as openai's does.
    const { id, model } = resolved;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (
      delta: ChatCompletionChunk['choices'][0]['delta'],
      finish: FinishReason | null = null,
    ): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
      system_fingerprint: 'agentgpu',
    });
    let first = true;
    // With tools the reply is parsed once whole: its text and calls come at the end.
    const withTools = !!params.tools?.length && params.tool_choice !== 'none';
    const running = this.options.run(resolved, signal, (t) => {
      if (first) {
        queue.push(chunk({ role: 'assistant', content: '' }));
        first = false;
      }
      if (t.text && !withTools) queue.push(chunk({ content: t.text }));
    });
    void running.then(
      (done) => {
        if (first) queue.push(chunk({ role: 'assistant', content: '' }));
        const calls = toolCalls(id, done.result);
        if (withTools && done.result.content) queue.push(chunk({ content: done.result.content }));
        if (calls) queue.push(chunk({ tool_calls: calls.map((c, index) => ({ index, ...c })) }));
        queue.push(chunk({}, calls ? 'tool_calls' : done.result.finishReason));
        if (params.stream_options?.include_usage) {
          queue.push({ ...chunk({}), choices: [], usage: done.usage ?? usage(done.result) });
        }
        queue.end();
      },
      (error) => queue.fail(error),
    );
    return {
      controller,
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
    };
  }

  /** What a request runs: its model, host, agent, prompt and generation options. */
  resolve(params: ChatCompletionCreateParams, raw?: string): ResolvedRequest {
    const { pool, agents } = this.options;
    if (this.options.closed()) throw new AgentGpuError('the engine is closed');
    if (raw === undefined) checkChatParams(params);
    const named = params.agent ?? params.model;
    if (!named) throw new RequestError('a request names a model or an agent', 'model');
    const agent = agents.get(named);
    const model = agent ? agent.model : named;
    const slot = pool.slotOf(model);
    if (!slot) {
      throw new ModelNotFoundError(
        `no model or agent "${named}" (models: ${pool.models().join(', ')}; ` +
          `agents: ${[...agents.keys()].join(', ') || 'none'})`,
        'model',
      );
    }
    const responseFormat = toResponseFormat(params.response_format);
    // OpenAI's 'developer' role is the system prompt; text parts are joined.
    const given: ChatMessage[] = (params.messages ?? []).map((m) => ({
      ...m,
      role: (m.role as string) === 'developer' ? 'system' : m.role,
      content: messageText(m.content),
    }));
    // A reply to continue: the last message is its start.
    let assistantPrefix: string | undefined;
    if (params.continue_final_message) {
      const last = given.at(-1);
      if (last?.role !== 'assistant' || given.length < 2) {
        throw new RequestError(
          'continue_final_message needs the last message to be the assistant reply to continue',
          'continue_final_message',
        );
      }
      assistantPrefix = last.content;
      given.pop();
    }
    const messages: ChatMessage[] | string =
      raw ??
      (agent?.systemPrompt ? [{ role: 'system', content: agent.systemPrompt }, ...given] : given);
    const stop = params.stop == null ? undefined : [params.stop].flat();
    const id = `${this.options.idPrefix}-${++this.requests}`;
    const options: WorkerGenerateOptions = {
      model,
      requestId: id,
      maxTokens:
        params.max_completion_tokens ?? params.max_tokens ?? agent?.limits?.maxTokens ?? 512,
      temperature: params.temperature ?? 1,
      topP: params.top_p ?? 1,
      topK: 0,
      minP: 0,
      stop,
      seed: params.seed ?? undefined,
      frequencyPenalty: params.frequency_penalty ?? 0,
      presencePenalty: params.presence_penalty ?? 0,
      // An agent's conversation keeps its KV sequence (the next turn reuses its prefix);
      // a one-off request gets a session of its own, closed when it ends.
      session: agent ? agentSession(agent) : `request:${id}`,
      priority: params.priority ?? agent?.role ?? 'interactive',
      continueSession: agent?.keepsConversation === true,
      responseFormat,
      tools: params.tools,
      toolChoice: params.tool_choice,
      assistantPrefix,
    };
    return { id, agent, model, slot, messages, options };
  }
}

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** A reply's calls in OpenAI's shape, or undefined when it made none. */
function toolCalls(id: string, r: GenerationResult): ChatCompletionMessageToolCall[] | undefined {
  if (!r.toolCalls || r.toolCalls.length === 0) return undefined;
  return r.toolCalls.map((c, i) => ({
    id: `call_${id}_${i}`,
    type: 'function',
    function: { name: c.name, arguments: JSON.stringify(c.arguments) },
  }));
}

/** OpenAI's response_format as generate() takes it. */
function toResponseFormat(
  format: ChatCompletionCreateParams['response_format'],
): ResponseFormat | undefined {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    const schema = (format.json_schema as { schema?: JsonSchema } | undefined)?.schema;
    if (schema === undefined) {
      throw new RequestError(
        'response_format json_schema needs json_schema.schema (OpenAI: { name, schema, strict })',
        'response_format',
      );
    }
    return { type: 'json_schema', schema };
  }
  throw new RequestError(
    `response_format type "${String((format as { type: unknown }).type)}" is not one of text, json_object, json_schema`,
    'response_format',
  );
}

function usage(r: GenerationResult): ChatCompletion['usage'] {
  return {
    prompt_tokens: r.promptTokens.length,
    completion_tokens: r.tokens.length,
    total_tokens: r.promptTokens.length + r.tokens.length,
    prompt_tokens_details: { cached_tokens: r.timings.reusedPromptTokens },
  };
}
