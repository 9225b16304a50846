import { AgentGpuError, ContextLengthError, RequestError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { countTokens } from '../kernels/penalties.js';
import { PushQueue } from '../util/push-queue.js';
import { Rng } from '../util/rng.js';
import { ChatTemplate, type ChatMessage } from './chat/index.js';
import { modelConfig, type ModelConfig } from './config.js';
import type { KvOverflow } from '../kv/paged-kv-cache.js';
import { Decoder, type DecoderOptions } from './decoder.js';
import { BLOCK_TOKENS } from './memory-plan.js';
import { readGgufHeader, type ByteSource } from './gguf/reader.js';
import { StopStringFilter } from './stop-strings.js';
import { newSession, type Request, type Session } from './scheduled.js';
import { MODEL_RANGES, rangeProblem } from './option-ranges.js';
import { resultWithoutSteps } from './result.js';
import { JsonConstraint } from './grammar/constraint.js';
import { type ToolDefinition } from './chat/tools.js';
import { tokenizerFromGguf, type Tokenizer } from './tokenizer/index.js';
import { isTokens, PromptBuilder, toolCallsOf, type PromptInput } from './chat/prompt.js';
import type {
  GenerateOptions,
  GeneratedToken,
  Generation,
  GenerationResult,
  KvEvent,
  ScheduleOptions,
  SchedulerStats,
} from './generation.js';

export type * from './generation.js';
export type { PromptInput };

/** Tokens kept in hand when a grammar's output must be closed before maxTokens. */
const GRAMMAR_MARGIN = 4;

/** Default prompt tokens one prefill step takes while other generations are decoding. */
const PREFILL_CHUNK = 64;

/**
 * A GGUF language model on one GPU device: its tokenizer, chat template and decoder.
 * Generations of different sessions run together: each step advances every decoding
 * generation by a token and feeds one prompt a chunk, so a long prompt does not stall the
 * others, and every weight is read once for all of them.
 */
export class LanguageModel {
  private readonly requests: Request[] = [];
  /** Work that needs the decoder between steps (embeddings), in arrival order. */
  private readonly jobs: (() => Promise<void>)[] = [];
  private readonly sessions = new Map<string, Session>();
  private pumping = false;
  private destroyed = false;
  private arrivals = 0;
  private clock = 0;
  private readonly counters = { steps: 0, prefillTokens: 0, decodeTokens: 0, embedded: 0 };
  /** Prompt tokens from raw text, chat messages (with tools), or a conversation's next turn. */
  private readonly prompts: PromptBuilder;

  private constructor(
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly template: ChatTemplate,
    readonly decoder: Decoder,
    private readonly onKvEvent?: (event: KvEvent) => void,
  ) {
    this.sessions.set('default', newSession(0));
    this.prompts = new PromptBuilder(tokenizer, template);
  }

  static async load(
    gpu: GpuContext,
    source: ByteSource,
    options: Omit<DecoderOptions, 'onOverflow' | 'onEvict' | 'header'> & {
      chatTemplate?: string;
      /** Tokens that left the sliding window, with their text, for long-term memory. */
      onOverflow?: (overflow: KvOverflow & { text: string }) => void;
      /** Every eviction from the KV cache, by session: for telemetry and the audit log. */
      onKvEvent?: (event: KvEvent) => void;
    } = {},
  ): Promise<LanguageModel> {
    const file = await readGgufHeader(source);
    const config = modelConfig(file);
    const tokenizer = tokenizerFromGguf(file.metadata);
    const template = ChatTemplate.fromGguf(file.metadata, { template: options.chatTemplate });
    const { onOverflow, onKvEvent } = options;
    // The decoder speaks of sequences; the model, once made, names their sessions.
    const sessions = { of: (_sequence: number): string | undefined => undefined };
    const session = (sequence: number) => sessions.of(sequence) ?? `sequence ${sequence}`;
    const decoder = await Decoder.load(gpu, source, {
      ...options,
      header: file,
      onOverflow: (o) => {
        const text = tokenizer.decode(o.tokens);
        onOverflow?.({ ...o, text });
        onKvEvent?.({
          kind: 'window',
          session: session(o.sequence),
          tokens: o.end - o.start,
          range: [o.start, o.end],
          text,
        });
      },
      onEvict: (e) =>
        onKvEvent?.({
          kind: 'idle',
          session: session(e.sequence),
          tokens: e.tokens,
          forSession: session(e.forSequence),
          freedBlocks: e.freedBlocks,
        }),
    });
    const model = new LanguageModel(config, tokenizer, template, decoder, onKvEvent);
    sessions.of = (sequence) => model.sessionOf(sequence);
    return model;
  }

  /** The session a KV sequence holds, if any. */
  private sessionOf(sequence: number): string | undefined {
    for (const [name, s] of this.sessions) if (s.sequence === sequence) return name;
    return undefined;
  }

  /**
   * Prompt token ids: a string as llama.cpp tokenizes a raw completion (BOS when the model
   * says so, special-token text kept as text); messages through the chat template.
   */
  promptTokens(input: PromptInput, tools?: readonly ToolDefinition[]): number[] {
    return this.prompts.tokens(input, tools, '');
  }

  /**
   * Generates from a raw completion prompt (a string), chat messages (through the template),
   * or prompt token ids as they are.
   */
  generate(input: PromptInput, options: GenerateOptions & ScheduleOptions = {}): Generation {
    const queue = new PushQueue<GeneratedToken>();
    const emit = (t: GeneratedToken) => queue.push(t);
    const result = new Promise<GenerationResult>((resolve, reject) => {
      if (options.continueSession) {
        if (typeof input === 'string' || isTokens(input) || options.tools?.length) {
          return reject(
            new RequestError('continueSession takes chat messages (and no tools)', 'messages'),
          );
        }
        return this.submit([], options, resolve, reject, emit, undefined, input);
      }
      let request;
      try {
        request = this.prompts.withTools(input, options);
      } catch (error) {
        return reject(error);
      }
      const { prompt, format, tools } = request;
      this.submit(prompt, { ...options, responseFormat: format }, resolve, reject, emit, tools);
    }).finally(() => queue.end());
    // The iterator surfaces the run's error; `result` alone would leave it unhandled.
    result.catch(() => {});
    return {
      result,
      async *[Symbol.asyncIterator]() {
        yield* queue;
        await result;
      },
    };
  }

  /**
   * Sentence embeddings of `texts` from this model: each text's final-norm hidden states,
   * mean-pooled and L2-normalized (as llama.cpp's `--pooling mean`). They run between
   * generation steps, on a sequence of their own.
   */
  embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (this.destroyed) return Promise.reject(new AgentGpuError('the model was unloaded'));
    return new Promise((resolve, reject) => {
      this.jobs.push(async () => {
        try {
          const out: Float32Array[] = [];
          for (const text of texts) {
            const tokens = this.tokenizer.encode(text);
            out.push(await this.decoder.embed(tokens.length > 0 ? tokens : [this.filler()]));
            this.counters.embedded++;
          }
          resolve(out);
        } catch (error) {
          reject(error as Error);
        }
      });
      this.wakeUp();
    });
  }

  /** A token for an empty text: the BOS, else the end of turn. */
  private filler(): number {
    return this.tokenizer.bos ?? this.tokenizer.eos ?? 0;
  }

  /** Scheduler counters: generations waiting and running, steps and rows run. */
  stats(): SchedulerStats {
    return {
      waiting: this.requests.filter((r) => r.phase === 'waiting').length,
      running: this.requests.filter((r) => r.phase === 'prefill' || r.phase === 'decode').length,
      sessions: this.sessions.size,
      ...this.counters,
    };
  }

  /** Forgets a session's cached tokens and frees its sequence (not while it generates). */
  closeSession(name: string): void {
    const session = this.sessions.get(name);
    if (!session) return;
    if (session.busy) throw new AgentGpuError(`session "${name}" is generating: abort it first`);
    session.history = [];
    session.transcript = undefined;
    session.unfed = [];
    if (name === 'default') this.decoder.truncateSequence(0, 0);
    else {
      this.decoder.removeSequence(session.sequence);
      this.sessions.delete(name);
    }
  }

  private submit(
    prompt: number[],
    o: GenerateOptions & ScheduleOptions,
    resolve: (r: GenerationResult) => void,
    reject: (error: unknown) => void,
    emit: (t: GeneratedToken) => void,
    tools?: Request['tools'],
    turn?: readonly ChatMessage[],
  ): void {
    if (!turn) {
      const problem = this.promptProblem(prompt);
      if (problem) return reject(problem);
    }
    if (o.signal?.aborted) return reject(o.signal.reason);
    if (this.destroyed) return reject(new AgentGpuError('the model was unloaded'));
    if (o.maxTokens !== undefined && !(Number.isInteger(o.maxTokens) && o.maxTokens >= 0)) {
      return reject(
        new RequestError(`maxTokens must be a whole number ≥ 0, got ${o.maxTokens}`, 'maxTokens'),
      );
    }
    for (const [name, range] of Object.entries(MODEL_RANGES)) {
      const value = o[name as keyof typeof MODEL_RANGES];
      const problem = value === undefined ? undefined : rangeProblem(name, value, range);
      if (problem) return reject(new RequestError(problem, name));
    }
    if (o.maxTokens === 0) {
      // Nothing to generate: done at once, the prompt not even run, no session touched.
      return resolve(resultWithoutSteps(prompt, '', 'length'));
    }
    const penalty = {
      repeat: o.repeatPenalty ?? 1,
      frequency: o.frequencyPenalty ?? 0,
      presence: o.presencePenalty ?? 0,
    };
    const penalized = penalty.repeat !== 1 || penalty.frequency !== 0 || penalty.presence !== 0;
    let constraint: JsonConstraint | undefined;
    try {
      const format = o.responseFormat;
      if (format && format.type !== 'text') constraint = new JsonConstraint(this.tokenizer, format);
    } catch (error) {
      return reject(error);
    }
    const now = performance.now();
    const r: Request = {
      prompt,
      options: o,
      session: o.session ?? 'default',
      priority: o.priority === 'background' ? 1 : 0,
      arrival: this.arrivals++,
      emit,
      resolve,
      reject,
      phase: 'waiting',
      sequence: -1,
      fed: 0,
      reused: 0,
      tokens: [],
      history: [...prompt],
      rng: new Rng(o.seed ?? Math.floor(Math.random() * 2 ** 32)),
      filter: new StopStringFilter(o.stop ?? []),
      bytes: new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }),
      stops: new Set(o.ignoreEos ? [] : this.template.stopTokenIds),
      maxTokens: o.maxTokens ?? 256,
      settings: {
        temperature: o.temperature ?? 0.8,
        topK: o.topK ?? 40,
        topP: o.topP ?? 0.95,
        minP: o.minP ?? 0.05,
      },
      penalty: penalized ? penalty : undefined,
      lastN: o.penaltyLastN ?? 64,
      constraint,
      tools,
      turn,
      fedTokens: 0,
      submitted: now,
      prefillStarted: now,
      firstAt: now,
    };
    this.requests.push(r);
    this.requests.sort((a, b) => a.priority - b.priority || a.arrival - b.arrival);
    // A waiting generation leaves at once; a running one at the end of the current step.
    o.signal?.addEventListener('abort', () => this.wakeUp(), { once: true });
    this.wakeUp();
  }

  private wakeUp(): void {
    if (this.pumping) return;
    this.pumping = true;
    void this.pump().finally(() => (this.pumping = false));
  }

  /** Steps until no generation is left. */
  private async pump(): Promise<void> {
    while (!this.destroyed) {
      const job = this.jobs.shift();
      if (job) {
        await job();
        continue;
      }
      this.dropAborted();
      this.admit();
      const active = this.requests.filter((r) => r.phase === 'prefill' || r.phase === 'decode');
      if (active.length === 0) return;
      try {
        await this.step(active);
      } catch (error) {
        // Nothing a step throws may stop the model: the generations it ran end with the error.
        for (const r of active) {
          if (r.phase !== 'done') this.finish(r, { error: generationError(error), forget: true });
        }
      }
    }
  }

  /** Aborted generations reject, and their sequences' new tokens are freed at once. */
  private dropAborted(): void {
    for (const r of this.requests) {
      if (r.phase !== 'done' && r.options.signal?.aborted) {
        this.finish(r, { error: r.options.signal.reason, forget: true });
      }
    }
  }

  /** Waiting generations whose session is free take their sequence (and its cached prefix). */
  private admit(): void {
    for (const r of this.requests) {
      if (r.phase !== 'waiting') continue;
      const session = this.sessionFor(r.session);
      if (!session || session.busy) continue;
      if (r.turn) {
        try {
          r.prompt = this.prompts.turn(session, r.turn);
          r.history = [...r.prompt];
          const problem = this.promptProblem(r.prompt);
          if (problem) throw problem;
        } catch (error) {
          this.finish(r, { error, forget: true });
          continue;
        }
      }
      session.busy = true;
      session.lastUsed = ++this.clock;
      r.sequence = session.sequence;
      r.reused = r.options.reusePrefix === false ? 0 : this.continued(session, r.prompt);
      const slid = this.decoder.sequenceEvicted(r.sequence) > 0;
      if (r.options.reusePrefix !== false && !slid && r.reused % BLOCK_TOKENS === 0) {
        // Whole blocks another session filled with the same prompt start (a shared system
        // prompt, the same tools) are lent, not recomputed: the prefix cache. (A sequence that
        // ends mid-block keeps its own tokens: lending starts at a block boundary; one whose
        // window slid has cache indices that are not positions: nothing to lend.)
        r.reused = this.decoder.adoptPrefix(r.sequence, r.prompt);
      }
      r.fed = r.reused;
      session.history = r.prompt.slice(0, r.reused);
      r.phase = 'prefill';
    }
  }

  /** What is wrong with a prompt, or undefined. */
  private promptProblem(prompt: readonly number[]): Error | undefined {
    const d = this.decoder;
    if (prompt.length === 0) {
      // A model without a BOS token (Qwen's) turns "" into no tokens at all.
      return new RequestError(
        'the prompt is empty: it has no tokens (this model adds no BOS token to start one); ' +
          'give it some text',
        'prompt',
      );
    }
    if (!d.window && prompt.length >= d.contextSize) {
      return new ContextLengthError(
        `the prompt has ${prompt.length} tokens but the context holds ${d.contextSize}: ` +
          'shorten it or load the model with a larger contextSize',
        'messages',
      );
    }
    return undefined;
  }

  /**
   * How much of `prompt` the session's cache already holds: the tokens it shares with the
   * session's history, the cache cut back to them. After a window slid, only while the shared
   * part reaches past the evicted tokens (the cache holds the sinks and what came after).
   */
  private continued(session: Session, prompt: readonly number[]): number {
    const d = this.decoder;
    const h = session.history;
    const limit = Math.min(h.length, prompt.length - 1);
    let match = 0;
    while (match < limit && h[match] === prompt[match]) match++;
    const evicted = d.sequenceEvicted(session.sequence);
    if (evicted > 0 && match - evicted < d.sinkTokens) match = 0;
    d.truncateSequence(session.sequence, match === 0 ? 0 : match - evicted);
    return match;
  }

  /** The session named, made when there is room (an idle session's sequence is reclaimed). */
  private sessionFor(name: string): Session | undefined {
    const known = this.sessions.get(name);
    if (known) return known;
    const d = this.decoder;
    if (this.sessions.size >= d.maxSequences) {
      let idle: [string, Session] | undefined;
      for (const entry of this.sessions) {
        if (entry[0] === 'default' || entry[1].busy) continue;
        if (!idle || entry[1].lastUsed < idle[1].lastUsed) idle = entry;
      }
      if (!idle) return undefined; // waits for a session to finish
      const tokens = d.sequenceLength(idle[1].sequence);
      d.removeSequence(idle[1].sequence);
      this.sessions.delete(idle[0]);
      this.onKvEvent?.({ kind: 'session', session: idle[0], tokens, forSession: name });
    }
    const session = newSession(d.addSequence());
    this.sessions.set(name, session);
    return session;
  }

  /** One forward step for every decoding generation and a chunk of one prompt, then samples. */
  private async step(active: Request[]): Promise<void> {
    const d = this.decoder;
    const decoding = active.filter((r) => r.phase === 'decode');
    const steps = decoding.map((r) => ({ sequence: r.sequence, tokens: [r.pending!] }));
    const room = Math.min(d.maxBatch, d.maxStep) - steps.length;
    const prefill = active.find((r) => r.phase === 'prefill');
    let chunk = 0;
    if (prefill && room > 0) {
      chunk = Math.min(
        prefill.prompt.length - prefill.fed,
        steps.length > 0 ? Math.min(room, PREFILL_CHUNK) : d.maxStep,
      );
      if (prefill.fed === prefill.reused) prefill.prefillStarted = performance.now();
      steps.push({
        sequence: prefill.sequence,
        tokens: prefill.prompt.slice(prefill.fed, prefill.fed + chunk),
      });
    }
    const stepped = chunk > 0 ? [...decoding, prefill!] : decoding;
    // Rows that sample: every decode row, and the prompt whose last chunk this is. Sampling
    // rides in the step's own submission, so a decode step is one submit and one readback.
    const sampling = stepped.filter(
      (r) => r.phase === 'decode' || (r === prefill && r.fed + chunk === r.prompt.length),
    );
    // Each sampling row's grammar mask first: a grammar that fails ends its own generation
    // (and the step is planned again without it), never the others or the model.
    const masks = new Map<Request, Uint32Array | undefined>();
    const failed: [Request, unknown][] = [];
    for (const r of sampling) {
      try {
        masks.set(r, r.constraint?.mask());
      } catch (error) {
        failed.push([r, error]);
      }
    }
    if (failed.length > 0) {
      for (const [r, error] of failed)
        this.finish(r, { error: generationError(error), forget: true });
      return;
    }
    const sampleRows = stepped.map((r) => {
      const used = sampling.includes(r);
      // The history as it stands once this step has run: a decode row's pending token in it.
      const history = decoding.includes(r) ? [...r.history, r.pending!] : r.history;
      return {
        settings: r.settings,
        u: used ? r.rng.next() : 0,
        penalties:
          used && r.penalty
            ? { settings: r.penalty, counts: countTokens(history.slice(-r.lastN)) }
            : undefined,
        mask: masks.get(r),
      };
    });
    let drawn: number[] | undefined;
    try {
      if (sampling.length > 0) drawn = await d.forwardBatch(steps, sampleRows);
      else await d.forwardBatch(steps);
    } catch (error) {
      for (const r of stepped) this.finish(r, { error, forget: true });
      return;
    }
    this.counters.steps++;
    this.counters.decodeTokens += decoding.length;
    this.counters.prefillTokens += chunk;
    for (const r of decoding) {
      r.history.push(r.pending!);
      r.fedTokens++;
      this.sessions.get(r.session)?.history.push(r.pending!);
    }
    if (chunk > 0) {
      this.sessions.get(prefill!.session)?.history.push(...steps[steps.length - 1].tokens);
      prefill!.fed += chunk;
    }
    if (!drawn) return;
    stepped.forEach((r, i) => {
      if (!sampling.includes(r)) return;
      try {
        this.accept(r, drawn[i]);
      } catch (error) {
        // A token its grammar or tool parsing cannot take: this generation fails, alone.
        if (r.phase !== 'done') this.finish(r, { error: generationError(error), forget: true });
      }
    });
  }

  /** A sampled token: the end, or emitted and run in the next step. */
  private accept(r: Request, token: number): void {
    if (!(token >= 0 && token < this.config.vocabSize)) {
      // The sampler found no finite logit to take: every token masked by the grammar, or NaN
      // or Inf weights or activations.
      if (r.constraint) {
        throw new RequestError(
          `the response format allows no token after ${r.tokens.length} tokens: its schema ` +
            'cannot be completed from here',
          'response_format',
        );
      }
      throw new AgentGpuError(
        `the model's logits are not finite (NaN or Inf) at step ${r.tokens.length}: ` +
          'its weights are broken, or overflow f16; the file cannot be run as it is',
      );
    }
    if (r.tokens.length === 0) r.firstAt = performance.now();
    r.phase = 'decode';
    // Under a grammar, end-of-generation is masked until the document is complete.
    if (!r.constraint && r.stops.has(token)) return this.finish(r, { reason: 'stop' });
    this.output(r, token);
    if (r.filter.stoppedAt !== undefined) return this.finish(r, { reason: 'stop' });
    if (r.constraint) {
      r.constraint.accept(token);
      if (r.constraint.done) return this.finish(r, { reason: 'stop' });
      // Close the document while the budget allows (a few tokens' margin: one token can
      // open more than one level).
      const rest = r.constraint.finish();
      if (r.tokens.length + rest.length + GRAMMAR_MARGIN >= r.maxTokens) {
        for (const t of rest) this.output(r, t);
        return this.finish(r, { reason: 'length' });
      }
    }
    const d = this.decoder;
    const full = !d.window && d.sequenceLength(r.sequence) === d.contextSize;
    if (r.tokens.length === r.maxTokens || full) return this.finish(r, { reason: 'length' });
    r.pending = token;
  }

  /** Records and streams one output token. */
  private output(r: Request, token: number): void {
    r.tokens.push(token);
    const text = r.filter.push(r.bytes.decode(this.tokenizer.tokenBytes(token), { stream: true }));
    r.emit({ token, text });
  }

  private finish(
    r: Request,
    end: { reason: GenerationResult['finishReason'] } | { error: unknown; forget: true },
  ): void {
    const wasRunning = r.phase !== 'waiting';
    r.phase = 'done';
    this.requests.splice(this.requests.indexOf(r), 1);
    const session = this.sessions.get(r.session);
    if (wasRunning && session) {
      session.busy = false;
      // A failed or cancelled generation's tokens leave the cache at once.
      if ('error' in end && !this.destroyed) {
        this.decoder.truncateSequence(r.sequence, 0);
        session.history = [];
      }
    }
    if ('error' in end) {
      if (session && r.turn) session.transcript = undefined;
      return r.reject(end.error);
    }
    const tail = r.filter.push(r.bytes.decode()) + r.filter.flush();
    if (tail) r.emit({ text: tail });
    if (session && r.turn) {
      // The reply joins the transcript; a stop string cut text the cache holds, so the next
      // turn renders the whole transcript instead of continuing.
      const cut = r.filter.stoppedAt !== undefined;
      session.transcript = cut
        ? undefined
        : [...(session.transcript ?? []), { role: 'assistant', content: r.filter.output }];
      session.unfed = cut ? [] : r.tokens.slice(r.fedTokens);
      if (cut) session.history = [];
    }
    const ended = performance.now();
    const prefillMs = r.firstAt - r.prefillStarted;
    const decodeTokens = Math.max(0, r.tokens.length - 1);
    const decodeMs = ended - r.firstAt;
    const text = r.filter.output;
    const calls = r.tools && toolCallsOf(text, r.tools);
    r.resolve({
      promptTokens: r.prompt,
      tokens: r.tokens,
      text,
      ...calls,
      finishReason: end.reason,
      timings: {
        promptTokens: r.prompt.length,
        reusedPromptTokens: r.reused,
        prefillMs,
        prefillTokensPerSecond: ((r.prompt.length - r.reused) / prefillMs) * 1000,
        decodeTokens,
        decodeMs,
        decodeTokensPerSecond: decodeTokens > 0 ? (decodeTokens / decodeMs) * 1000 : 0,
        timeToFirstTokenMs: r.firstAt - r.submitted,
      },
    });
  }

  /** Frees the model's GPU buffers; generations still running or waiting reject. */
  destroy(): void {
    this.destroyed = true;
    for (const job of this.jobs.splice(0)) void job();
    for (const r of [...this.requests]) {
      this.finish(r, { error: new AgentGpuError('the model was unloaded'), forget: true });
    }
    this.decoder.destroy();
  }
}

/** What a generation that failed inside a step rejects with: named, saying what happened. */
function generationError(error: unknown): Error {
  if (error instanceof AgentGpuError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AgentGpuError(`the generation failed while sampling: ${message}`, { cause: error });
}
