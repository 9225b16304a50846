// A client for any OpenAI-compatible endpoint (vLLM, llama.cpp's server, Ollama, a hosted API,
// agentgpu's own edge server): chat completions whole and streamed (SSE), text completions,
// embeddings, models. Connection errors, 408, 409, 429 and 5xx are retried with exponential
// backoff and full jitter, honouring Retry-After; each attempt has a timeout; an AbortSignal
// cancels; a circuit breaker per endpoint stops hammering one that keeps failing. A stream that
// ends without its final chunk is an error, and a stream retried after it showed text resumes
// after that text (continue_final_message), so nothing is shown twice or left out.
import { CircuitOpenError, IncompleteStreamError, OffloadError } from '../errors.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  Completion,
  CompletionCreateParams,
  CreateEmbeddingResponse,
  EmbeddingCreateParams,
  Model,
} from '../api/openai.js';

export interface EndpointOptions {
  /** The API root, e.g. http://127.0.0.1:8080/v1 or https://api.example.com/v1. */
  baseURL: string;
  /** The API key, asked for at each request (never stored by the client). */
  apiKey?: () => string | undefined | Promise<string | undefined>;
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** Backoff before retry n: up to min(maxMs, baseMs * 2^n), full jitter (default 250, 8000). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Retry-After longer than this is not waited for: the error goes up (default 30 s). */
  maxRetryAfterMs?: number;
  /** Each attempt's time limit to the response headers, and between stream events (default 60 s). */
  timeoutMs?: number;
  /** Opens after `failures` failed calls in a row; half-opens after `cooldownMs` (5, 30 s). */
  breaker?: { failures?: number; cooldownMs?: number };
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** Jitter's random source (tests). */
  random?: () => number;
}

/** What happened on the way to an answer: for logs, telemetry and the audit log. */
export type EndpointEvent =
  | { type: 'retry'; attempt: number; waitMs: number; reason: string; resumedAfterChars: number }
  | { type: 'breaker'; state: 'open' | 'half-open' | 'closed'; failures: number };

export interface CallOptions {
  signal?: AbortSignal;
  onEvent?: (event: EndpointEvent) => void;
}

/** The text a streamed chat reply has shown so far, and whether it finished. */
export interface StreamProgress {
  text: string;
  finishReason: string | null;
}

const RETRYABLE = new Set([408, 409, 429]);

/** Per-endpoint failure counting: closed → open after N failures → half-open after a cooldown. */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  state: 'closed' | 'open' | 'half-open' = 'closed';

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly onChange: (
      state: CircuitBreaker['state'],
      failures: number,
    ) => void = () => {},
  ) {}

  /** Throws CircuitOpenError while open; lets one trial call through once cooled down. */
  check(endpoint: string, now = Date.now()): void {
    if (this.state !== 'open') return;
    const left = this.openedAt + this.cooldownMs - now;
    if (left > 0) {
      throw new CircuitOpenError(
        endpoint,
        `${endpoint} failed ${this.failures} times in a row; calls resume in ${Math.ceil(left / 1000)} s`,
        { retryable: false, code: 'circuit_open' },
      );
    }
    this.set('half-open');
  }

  success(): void {
    this.failures = 0;
    if (this.state !== 'closed') this.set('closed');
  }

  failure(now = Date.now()): void {
    this.failures++;
    if (this.state === 'half-open' || this.failures >= this.threshold) {
      this.openedAt = now;
      if (this.state !== 'open') this.set('open');
    }
  }

  private set(state: CircuitBreaker['state']): void {
    this.state = state;
    this.onChange(state, this.failures);
  }
}

/** Retry-After as milliseconds: seconds, or an HTTP date. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The `data:` payloads of a server-sent-event stream, as they arrive. */
export async function* sseData(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  endpoint: string,
): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new OffloadError(endpoint, `${endpoint} sent nothing for ${idleMs} ms mid-stream`, {
                retryable: true,
                code: 'timeout',
              }),
            ),
          idleMs,
        );
      });
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await Promise.race([reader.read(), idle]);
      } finally {
        clearTimeout(timer);
      }
      if (read.done) break;
      buffer += decoder.decode(read.value, { stream: true });
      let end: number;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + (buffer[end] === '\r' ? 4 : 2));
        const data = event
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).replace(/^ /, ''))
          .join('\n');
        if (data) yield data;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

export class OpenAICompatibleClient {
  readonly baseURL: string;
  readonly breaker: CircuitBreaker;
  private readonly o: Required<Omit<EndpointOptions, 'baseURL' | 'apiKey' | 'headers' | 'fetch'>> &
    Pick<EndpointOptions, 'apiKey' | 'headers'>;
  private readonly fetch: typeof fetch;
  private listeners = new Set<(e: EndpointEvent) => void>();

  constructor(options: EndpointOptions) {
    let url: URL;
    try {
      url = new URL(options.baseURL);
    } catch {
      throw new OffloadError(String(options.baseURL), `baseURL "${options.baseURL}" is not a URL`);
    }
    if (url.username || url.password) {
      throw new OffloadError(
        url.origin,
        'baseURL must not carry credentials: pass the key through apiKey',
      );
    }
    this.baseURL = options.baseURL.replace(/\/+$/, '');
    this.o = {
      retries: options.retries ?? 3,
      backoff: { baseMs: 250, maxMs: 8000, ...options.backoff },
      maxRetryAfterMs: options.maxRetryAfterMs ?? 30_000,
      timeoutMs: options.timeoutMs ?? 60_000,
      breaker: { failures: 5, cooldownMs: 30_000, ...options.breaker },
      random: options.random ?? Math.random,
      apiKey: options.apiKey,
      headers: options.headers,
    };
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.breaker = new CircuitBreaker(
      this.o.breaker.failures!,
      this.o.breaker.cooldownMs!,
      (state, failures) => this.emit({ type: 'breaker', state, failures }),
    );
  }

  /** Every event of every call (retries, breaker changes). */
  onEvent(listener: (e: EndpointEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: EndpointEvent, call?: CallOptions): void {
    call?.onEvent?.(e);
    for (const l of this.listeners) l(e);
  }

  async models(options: CallOptions = {}): Promise<Model[]> {
    const r = await this.call('GET', '/models', undefined, options);
    return ((await r.json()) as { data: Model[] }).data;
  }

  async chatCompletion(
    params: ChatCompletionCreateParamsBase,
    options: CallOptions = {},
  ): Promise<ChatCompletion> {
    const r = await this.call('POST', '/chat/completions', { ...params, stream: false }, options);
    return (await r.json()) as ChatCompletion;
  }

  async completion(params: CompletionCreateParams, options: CallOptions = {}): Promise<Completion> {
    const r = await this.call('POST', '/completions', { ...params, stream: false }, options);
    return (await r.json()) as Completion;
  }

  async embeddings(
    params: EmbeddingCreateParams,
    options: CallOptions = {},
  ): Promise<CreateEmbeddingResponse> {
    const r = await this.call('POST', '/embeddings', params, options);
    return (await r.json()) as CreateEmbeddingResponse;
  }

  /**
   * A streamed chat reply. A retry after text was shown asks the endpoint to continue that
   * text (the reply so far as the last, assistant, message with continue_final_message), and
   * only the continuation is yielded. `progress` holds what was shown. A stream that ends
   * without a finish_reason (or without [DONE]) is an IncompleteStreamError once retries are
   * spent.
   */
  async *chatCompletionStream(
    params: ChatCompletionCreateParamsBase,
    options: CallOptions = {},
    progress: StreamProgress = { text: '', finishReason: null },
  ): AsyncGenerator<ChatCompletionChunk> {
    for (let attempt = 0; ; attempt++) {
      const body =
        progress.text === ''
          ? { ...params, stream: true }
          : {
              ...params,
              stream: true,
              messages: [...params.messages, { role: 'assistant', content: progress.text }],
              continue_final_message: true,
              add_generation_prompt: false,
            };
      try {
        const response = await this.call('POST', '/chat/completions', body, options, 0, true);
        let finished = false;
        let done = false;
        for await (const data of sseData(response.body!, this.o.timeoutMs, this.baseURL)) {
          if (data === '[DONE]') {
            done = true;
            break;
          }
          let chunk: ChatCompletionChunk & { error?: { message?: string; code?: string } };
          try {
            chunk = JSON.parse(data) as typeof chunk;
          } catch {
            throw new OffloadError(this.baseURL, `${this.baseURL} sent an event that is not JSON`, {
              retryable: true,
            });
          }
          if (chunk.error) {
            throw new OffloadError(
              this.baseURL,
              `${this.baseURL} failed mid-stream: ${chunk.error.message ?? 'an error event'}`,
              { retryable: true, code: chunk.error.code },
            );
          }
          const choice = chunk.choices?.[0];
          if (choice?.delta?.content) progress.text += choice.delta.content;
          if (choice?.finish_reason) {
            finished = true;
            progress.finishReason = choice.finish_reason;
          }
          yield chunk;
        }
        if (!finished || !done) {
          throw new IncompleteStreamError(
            this.baseURL,
            `${this.baseURL}'s stream ended ${finished ? 'without [DONE]' : 'without its final chunk'} ` +
              `after ${progress.text.length} characters`,
            { retryable: true, code: 'incomplete_stream' },
          );
        }
        this.breaker.success();
        return;
      } catch (error) {
        const e = this.classify(error, options.signal);
        if (!e.retryable || options.signal?.aborted) {
          if (e.retryable) this.breaker.failure();
          throw e;
        }
        this.breaker.failure();
        if (attempt >= this.o.retries) throw e;
        if (e.retryAfterMs !== undefined && e.retryAfterMs > this.o.maxRetryAfterMs) throw e;
        const waitMs = this.backoff(attempt, e.retryAfterMs);
        this.emit(
          {
            type: 'retry',
            attempt: attempt + 1,
            waitMs,
            reason: e.message,
            resumedAfterChars: progress.text.length,
          },
          options,
        );
        await sleep(waitMs, options.signal);
        this.breaker.check(this.baseURL);
      }
    }
  }

  private backoff(attempt: number, retryAfter?: number): number {
    if (retryAfter !== undefined) return retryAfter;
    const cap = Math.min(this.o.backoff.maxMs!, this.o.backoff.baseMs! * 2 ** attempt);
    return Math.floor(this.o.random() * cap);
  }

  /** An error as an OffloadError (aborts stay what they are). */
  private classify(error: unknown, signal?: AbortSignal): OffloadError {
    if (error instanceof OffloadError) return error;
    if (signal?.aborted) throw signal.reason as Error;
    const message = error instanceof Error ? error.message : String(error);
    return new OffloadError(this.baseURL, `${this.baseURL} could not be reached: ${message}`, {
      cause: error,
      retryable: true,
      code: 'connection_error',
    });
  }

  /**
   * One request with retries (`retries` overrides the client's: a stream retries itself).
   * Resolves with a 2xx response; throws OffloadError otherwise.
   */
  private async call(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    options: CallOptions,
    retries = this.o.retries,
    /** A stream's first response: the stream retries and counts failures itself. */
    stream = false,
  ): Promise<Response> {
    const url = `${this.baseURL}${path}`;
    for (let attempt = 0; ; attempt++) {
      this.breaker.check(this.baseURL);
      options.signal?.throwIfAborted();
      let error: OffloadError;
      let retryAfter: number | undefined;
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new DOMException('the attempt timed out', 'TimeoutError')),
        this.o.timeoutMs,
      );
      try {
        const key = await this.o.apiKey?.();
        const signal = options.signal
          ? AbortSignal.any([options.signal, timeout.signal])
          : timeout.signal;
        const response = await this.fetch(url, {
          method,
          signal,
          headers: {
            ...(body !== undefined && { 'content-type': 'application/json' }),
            ...(key && { authorization: `Bearer ${key}` }),
            ...this.o.headers,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (response.ok) {
          if (!stream) this.breaker.success();
          return response;
        }
        const text = await response.text().catch(() => '');
        let detail: { message?: string; code?: string } = {};
        try {
          detail = (JSON.parse(text) as { error?: typeof detail }).error ?? {};
        } catch {
          detail = { message: text.slice(0, 200) };
        }
        const status = response.status;
        const retryable = RETRYABLE.has(status) || status >= 500;
        retryAfter = retryAfterMs(response.headers.get('retry-after'));
        error = new OffloadError(
          this.baseURL,
          `${url} answered ${status}: ${detail.message || response.statusText}`,
          { status, code: detail.code, retryable, retryAfterMs: retryAfter },
        );
      } catch (caught) {
        if (options.signal?.aborted) throw options.signal.reason as Error;
        const timedOut = timeout.signal.aborted;
        error = timedOut
          ? new OffloadError(this.baseURL, `${url} did not answer within ${this.o.timeoutMs} ms`, {
              retryable: true,
              code: 'timeout',
            })
          : this.classify(caught, options.signal);
      } finally {
        clearTimeout(timer);
      }
      if (!error.retryable) throw error;
      if (!stream) this.breaker.failure();
      if (attempt >= retries) throw error;
      if (retryAfter !== undefined && retryAfter > this.o.maxRetryAfterMs) {
        throw new OffloadError(
          this.baseURL,
          `${error.message} (Retry-After ${Math.round(retryAfter / 1000)} s is longer than ` +
            `${this.o.maxRetryAfterMs / 1000} s)`,
          { status: error.status, code: error.code, retryable: false },
        );
      }
      const waitMs = this.backoff(attempt, retryAfter);
      this.emit(
        {
          type: 'retry',
          attempt: attempt + 1,
          waitMs,
          reason: error.message,
          resumedAfterChars: 0,
        },
        options,
      );
      await sleep(waitMs, options.signal);
    }
  }
}
