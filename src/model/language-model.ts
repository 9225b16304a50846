import { AgentGpuError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { countTokens } from '../kernels/reference/penalties.js';
import { Rng } from '../util/rng.js';
import { ChatTemplate, type ChatMessage } from './chat/index.js';
import { modelConfig, type ModelConfig } from './config.js';
import type { KvOverflow } from '../kv/paged-kv-cache.js';
import { Decoder, type DecoderOptions } from './decoder.js';
import { readGgufHeader, type ByteSource } from './gguf/reader.js';
import { StopStringFilter } from './stop-strings.js';
import { tokenizerFromGguf, type Tokenizer } from './tokenizer/index.js';

/** How one generation samples and when it ends. Defaults are llama.cpp's. */
export interface GenerateOptions {
  /** Tokens to generate at most (default 256). */
  maxTokens?: number;
  /** 0: greedy (default 0.8). */
  temperature?: number;
  /** 0: off (default 40). */
  topK?: number;
  /** 1: off (default 0.95). */
  topP?: number;
  /** 0: off (default 0.05). */
  minP?: number;
  /** 1: off (default). */
  repeatPenalty?: number;
  /** 0: off (default). */
  frequencyPenalty?: number;
  /** 0: off (default). */
  presencePenalty?: number;
  /** Recent tokens the penalties look at (default 64). */
  penaltyLastN?: number;
  /** Replays a sampled generation (default: random). */
  seed?: number;
  /** Text that ends the generation; it is not part of the output. */
  stop?: readonly string[];
  /** Keep going past end-of-generation tokens. */
  ignoreEos?: boolean;
  /**
   * Skip the prefill of the prompt's first tokens when the cache already holds them from the
   * previous generation (multi-turn chat). Default true.
   */
  reusePrefix?: boolean;
  signal?: AbortSignal;
}

/**
 * One generated token and the text it completes (empty while a character's bytes or a possible
 * stop string are pending). A last piece of held-back text may come without a token.
 */
export interface GeneratedToken {
  token?: number;
  text: string;
}

export interface GenerationTimings {
  promptTokens: number;
  /** Prompt tokens whose K and V the cache already held: no prefill for them. */
  reusedPromptTokens: number;
  prefillMs: number;
  prefillTokensPerSecond: number;
  /** Tokens after the first, each one decode step. */
  decodeTokens: number;
  decodeMs: number;
  decodeTokensPerSecond: number;
  timeToFirstTokenMs: number;
}

export interface GenerationResult {
  promptTokens: number[];
  tokens: number[];
  text: string;
  /** 'stop': an end-of-generation token or a stop string; 'length': maxTokens or the context. */
  finishReason: 'stop' | 'length';
  timings: GenerationTimings;
}

/** A running generation: iterate for tokens as they come; `result` settles when it ends. */
export interface Generation extends AsyncIterable<GeneratedToken> {
  readonly result: Promise<GenerationResult>;
}

/**
 * A GGUF language model on one GPU device: its tokenizer, chat template and decoder. One
 * generation at a time; each starts from an empty cache (prefix reuse is the KV cache's).
 */
export class LanguageModel {
  private busy = false;

  private constructor(
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly template: ChatTemplate,
    readonly decoder: Decoder,
  ) {}

  static async load(
    gpu: GpuContext,
    source: ByteSource,
    options: Omit<DecoderOptions, 'onOverflow'> & {
      chatTemplate?: string;
      /** Tokens that left the sliding window, with their text, for long-term memory. */
      onOverflow?: (overflow: KvOverflow & { text: string }) => void;
    } = {},
  ): Promise<LanguageModel> {
    const file = await readGgufHeader(source);
    const config = modelConfig(file);
    const tokenizer = tokenizerFromGguf(file.metadata);
    const template = ChatTemplate.fromGguf(file.metadata, { template: options.chatTemplate });
    const { onOverflow } = options;
    const decoder = await Decoder.load(gpu, source, {
      ...options,
      onOverflow: onOverflow && ((o) => onOverflow({ ...o, text: tokenizer.decode(o.tokens) })),
    });
    return new LanguageModel(config, tokenizer, template, decoder);
  }

  /**
   * Prompt token ids: a string as llama.cpp tokenizes a raw completion (BOS when the model
   * says so, special-token text kept as text); messages through the chat template.
   */
  promptTokens(input: string | readonly ChatMessage[]): number[] {
    if (typeof input === 'string') return this.tokenizer.encode(input);
    const text = this.template.render(input, { addGenerationPrompt: true });
    return this.tokenizer.encode(text, { addSpecial: !this.template.rendersBos, special: true });
  }

  generate(input: string | readonly ChatMessage[], options: GenerateOptions = {}): Generation {
    const queue: GeneratedToken[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    const result = this.run(this.promptTokens(input), options, (t) => {
      queue.push(t);
      wake?.();
    }).finally(() => {
      finished = true;
      wake?.();
    });
    // The iterator surfaces the run's error; `result` alone would leave it unhandled.
    result.catch(() => {});
    return {
      result,
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (queue.length > 0) yield queue.shift()!;
          if (finished) {
            await result;
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
    };
  }

  private async run(
    prompt: number[],
    o: GenerateOptions,
    emit: (t: GeneratedToken) => void,
  ): Promise<GenerationResult> {
    if (this.busy) {
      throw new AgentGpuError(
        'this model is already generating: await the running generation, or load another',
      );
    }
    this.busy = true;
    try {
      return await this.decode(prompt, o, emit);
    } finally {
      this.busy = false;
    }
  }

  private async decode(
    prompt: number[],
    o: GenerateOptions,
    emit: (t: GeneratedToken) => void,
  ): Promise<GenerationResult> {
    const d = this.decoder;
    const maxTokens = o.maxTokens ?? 256;
    if (prompt.length === 0) throw new RangeError('the prompt has no tokens');
    if (!d.window && prompt.length >= d.contextSize) {
      throw new AgentGpuError(
        `the prompt has ${prompt.length} tokens but the context holds ${d.contextSize}: ` +
          'shorten it or load the model with a larger contextSize',
      );
    }
    const settings = {
      temperature: o.temperature ?? 0.8,
      topK: o.topK ?? 40,
      topP: o.topP ?? 0.95,
      minP: o.minP ?? 0.05,
    };
    const penalty = {
      repeat: o.repeatPenalty ?? 1,
      frequency: o.frequencyPenalty ?? 0,
      presence: o.presencePenalty ?? 0,
    };
    const penalized = penalty.repeat !== 1 || penalty.frequency !== 0 || penalty.presence !== 0;
    const lastN = o.penaltyLastN ?? 64;
    const rng = new Rng(o.seed ?? Math.floor(Math.random() * 2 ** 32));
    const stops = new Set(o.ignoreEos ? [] : this.template.stopTokenIds);
    const filter = new StopStringFilter(o.stop ?? []);
    const bytes = new TextDecoder('utf-8', { fatal: false });

    const started = performance.now();
    const reused = o.reusePrefix === false ? 0 : this.cachedPrefix(prompt);
    if (reused === 0) d.reset();
    else d.truncate(reused);
    for (let i = reused; i < prompt.length; i += d.maxStep) {
      o.signal?.throwIfAborted();
      await d.forward(prompt.slice(i, i + d.maxStep));
    }
    const history = [...prompt];
    const tokens: number[] = [];
    let firstAt = started;
    let finishReason: GenerationResult['finishReason'] = 'length';
    while (tokens.length < maxTokens) {
      o.signal?.throwIfAborted();
      const counts = penalized ? countTokens(history.slice(-lastN)) : undefined;
      const token = await d.sample(settings, rng.next(), counts && { settings: penalty, counts });
      if (tokens.length === 0) firstAt = performance.now();
      if (stops.has(token)) {
        finishReason = 'stop';
        break;
      }
      tokens.push(token);
      history.push(token);
      const text = filter.push(bytes.decode(this.tokenizer.tokenBytes(token), { stream: true }));
      emit({ token, text });
      if (filter.stoppedAt !== undefined) {
        finishReason = 'stop';
        break;
      }
      if (tokens.length === maxTokens || (!d.window && d.length === d.contextSize)) break;
      await d.forward([token]);
    }
    const tail = filter.push(bytes.decode()) + filter.flush();
    if (tail) emit({ text: tail });
    const ended = performance.now();
    const prefillMs = firstAt - started;
    const decodeTokens = Math.max(0, tokens.length - 1);
    const decodeMs = ended - firstAt;
    return {
      promptTokens: prompt,
      tokens,
      text: filter.output,
      finishReason,
      timings: {
        promptTokens: prompt.length,
        reusedPromptTokens: reused,
        prefillMs,
        prefillTokensPerSecond: ((prompt.length - reused) / prefillMs) * 1000,
        decodeTokens,
        decodeMs,
        decodeTokensPerSecond: decodeTokens > 0 ? (decodeTokens / decodeMs) * 1000 : 0,
        timeToFirstTokenMs: prefillMs,
      },
    };
  }

  /**
   * How many of `prompt`'s first tokens the cache holds at the same positions, leaving at least
   * one to run (its logits pick the first new token). None once a window has evicted tokens:
   * cache indices are no longer positions in the conversation.
   */
  private cachedPrefix(prompt: readonly number[]): number {
    const d = this.decoder;
    if (d.evicted > 0) return 0;
    const cached = d.cachedTokens;
    const limit = Math.min(cached.length, prompt.length - 1);
    let n = 0;
    while (n < limit && cached[n] === prompt[n]) n++;
    return n;
  }

  destroy(): void {
    this.decoder.destroy();
  }
}
