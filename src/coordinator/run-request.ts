import {
  DeviceLostError,
  GpuAllocationError,
  HostRestartedError,
  KvCacheFullError,
  OffloadError,
  QueueFullError,
  WebGpuUnavailableError,
} from '../errors.js';
import type { CompletionUsage } from '../api/openai.js';
import type { ChatMessage } from '../model/chat/index.js';
import type { GeneratedToken, GenerationResult } from '../model/language-model.js';
import { resultWithoutSteps } from '../model/result.js';
import type { MemoryPrompt } from '../memory/prompt.js';
import type { Offloader } from '../offload/offloader.js';
import type { PlacementDecision } from '../offload/placement.js';
import type { WorkerGenerateOptions } from '../worker/protocol.js';
import { memorySettings, type AgentDefinition } from './agent.js';
import type { AgentMemory } from './agent-memory.js';
import type { AuditLog } from './audit.js';
import type { HostPool, HostSlot, Inflight } from './host-pool.js';
import type { AgentTelemetry, Telemetry } from './telemetry.js';

// One request's life: its queue limit, where it runs (the agent's placement, decided by the
// offload policy), the local or cloud generation, a failure on one side finished on the other
// after the text already shown, the outcome's usage and what placement learns from it, and
// its memory: recalled into the prompt, the exchange kept.

/** What a request runs: its model, host, agent, prompt and generation options. */
export interface ResolvedRequest {
  id: string;
  agent: Readonly<AgentDefinition> | undefined;
  model: string;
  slot: HostSlot;
  /** Chat messages (with the agent's system prompt), or a raw completion prompt. */
  messages: ChatMessage[] | string;
  options: WorkerGenerateOptions;
}

export interface RequestOutcome {
  id: string;
  model: string;
  result: GenerationResult;
  recalled?: MemoryPrompt;
  /** A cloud reply's usage, as its endpoint counted it. */
  usage?: CompletionUsage;
}

/** Recent placement decisions by request id, for rating them later (the last 256). */
export class PlacementLog {
  private readonly byRequest = new Map<
    string,
    { decision: PlacementDecision; ran: 'local' | 'cloud' }
  >();

  add(id: string, decision: PlacementDecision, ran: 'local' | 'cloud'): void {
    this.byRequest.set(id, { decision, ran });
    if (this.byRequest.size > 256) this.byRequest.delete(this.byRequest.keys().next().value!);
  }

  get(id: string): { decision: PlacementDecision; ran: 'local' | 'cloud' } | undefined {
    return this.byRequest.get(id);
  }
}

/** The rooms a request runs through. */
export interface RequestRooms {
  pool: HostPool;
  audit: AuditLog;
  telemetry: Telemetry;
  offloader?: Offloader;
  memory?: AgentMemory;
  placements: PlacementLog;
  /** Requests an agent or model may have waiting or running, when the agent names none. */
  queue: number;
}

/**
 * Throws QueueFullError when the request's agent (or model) has as many requests waiting or
 * running as its limit: the agent's limits.queue, else the engine's queue. Streams check it
 * before they start, so a full queue is a 429 and never a stream that ends in an error.
 */
export function admitRequest(rooms: RequestRooms, request: ResolvedRequest): void {
  const { agent, model } = request;
  const stats = rooms.telemetry.agent(agent?.name ?? model, model);
  const limit = agent?.limits?.queue ?? rooms.queue;
  if (stats.queued >= limit) {
    throw new QueueFullError(
      `${agent ? `agent "${stats.name}"` : `model "${model}"`} has ${stats.queued} requests ` +
        `waiting or running, its limit: retry when one ends, or raise ` +
        (agent ? 'its limits.queue' : "the engine's queue (serve --queue)"),
    );
  }
}

/** Runs one request: queue limits, placement, progress, cancellation, restarts, fallback. */
export function runRequest(
  rooms: RequestRooms,
  request: ResolvedRequest,
  signal: AbortSignal | undefined,
  onToken: (token: GeneratedToken) => void,
): Promise<RequestOutcome> {
  return new RequestRun(rooms, request, signal, onToken).run();
}

class RequestRun {
  /** Tokens streamed so far, from either side. */
  private tokens = 0;
  /** The reply's text shown so far (a fallback continues after it). */
  private shown = '';
  private cloudUsage: CompletionUsage | undefined;
  /** The prompt as it runs: with recalled memory, when the agent has any. */
  private messages: ChatMessage[] | string;
  private readonly record: Inflight;
  private readonly stats: AgentTelemetry;
  private readonly event: { type: 'request'; requestId: string; agent?: string; model: string };

  constructor(
    private readonly rooms: RequestRooms,
    private readonly request: ResolvedRequest,
    private readonly signal: AbortSignal | undefined,
    private readonly onToken: (token: GeneratedToken) => void,
  ) {
    const { id, agent, model, slot } = request;
    this.messages = request.messages;
    this.record = { id, slot, agent: agent?.name, model, lastProgress: Date.now() };
    this.stats = rooms.telemetry.agent(agent?.name ?? model, model);
    this.event = { type: 'request', requestId: id, agent: agent?.name, model };
  }

  async run(): Promise<RequestOutcome> {
    const { id, agent, model, slot, options } = this.request;
    const { pool, telemetry, audit } = this.rooms;
    const { stats, event, signal } = this;
    admitRequest(this.rooms, this.request);
    signal?.throwIfAborted();
    telemetry.emit({ ...event, phase: 'queued', host: slot.name, at: Date.now() });
    audit.record({
      kind: 'schedule',
      subject: `request:${id}`,
      decision: `run on host "${slot.name}" in session "${options.session}", ${options.priority}`,
      reason: agent
        ? `agent "${agent.name}" keeps its conversation in its own session, so its next turn ` +
          `reuses the cached prompt; its role makes it ${options.priority}`
        : 'a request without an agent gets a session of its own, closed when it ends',
      inputs: {
        model,
        host: slot.name,
        queued: stats.queued,
        running: stats.running,
        hostState: slot.state,
      },
    });
    stats.queued++;
    const onAbort = () => {
      audit.record({
        kind: 'cancel',
        subject: `request:${id}`,
        decision: 'cancel the generation and free its KV sequence',
        reason: 'the caller aborted it',
        inputs: { agent: agent?.name, model, tokensSoFar: this.tokens },
      });
      void pool.call(slot, (h) => h.cancel(id)).catch(() => {});
    };
    let recalled: MemoryPrompt | undefined;
    try {
      await slot.ready;
      signal?.throwIfAborted();
      stats.running++;
      pool.begin(this.record, (t) => this.localToken(t));
      signal?.addEventListener('abort', onAbort, { once: true });
      telemetry.emit({ ...event, phase: 'started', host: slot.name, at: Date.now() });
      const { memory } = this.rooms;
      const budget = agent ? memorySettings(agent).budgetTokens : undefined;
      if (agent?.memory && memory && budget !== 0 && typeof this.messages !== 'string') {
        [this.messages, recalled] = await memory.recall(agent, model, id, this.messages);
      }
      const decision =
        agent && typeof this.messages !== 'string' && (agent.placement ?? 'local') !== 'local'
          ? await this.place(agent, this.messages)
          : undefined;
      const result = await this.generate(decision);
      if (agent?.memory && memory && typeof this.request.messages !== 'string') {
        memory.remember(agent, options.session!, this.request.messages, result);
      }
      if (this.cloudUsage) result.timings.promptTokens = this.cloudUsage.prompt_tokens;
      stats.completed++;
      stats.lastTimeToFirstTokenMs = result.timings.timeToFirstTokenMs;
      stats.lastPrefillTokensPerSecond = result.timings.prefillTokensPerSecond;
      stats.lastDecodeTokensPerSecond = result.timings.decodeTokensPerSecond;
      telemetry.emit({
        ...event,
        phase: 'finished',
        host: slot.name,
        at: Date.now(),
        promptTokens: result.promptTokens.length,
        cachedTokens: result.timings.reusedPromptTokens,
        completionTokens: result.tokens.length,
        timeToFirstTokenMs: result.timings.timeToFirstTokenMs,
        prefillTokensPerSecond: result.timings.prefillTokensPerSecond,
        decodeTokensPerSecond: result.timings.decodeTokensPerSecond,
      });
      return { id, model, result, recalled, usage: this.cloudUsage };
    } catch (error) {
      const cancelled = signal?.aborted === true;
      if (cancelled) stats.cancelled++;
      else stats.errors++;
      telemetry.emit({
        ...event,
        phase: cancelled ? 'cancelled' : 'failed',
        host: slot.name,
        at: Date.now(),
        error: String((error as Error)?.message ?? error),
      });
      if (error instanceof HostRestartedError) {
        throw new HostRestartedError(
          slot.name,
          `${error.message}: this request had streamed ${this.tokens} token(s) and cannot be ` +
            'resumed without repeating them; send it again',
          { cause: error },
        );
      }
      throw cancelled ? signal!.reason : error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stats.queued--;
      if (pool.end(id)) stats.running--;
      if (!agent && slot.state === 'ready') {
        void pool.call(slot, (h) => h.closeSession(model, options.session!)).catch(() => {});
      }
    }
  }

  /** Where the placement sends it, and, when that side fails, the rest on the other side. */
  private async generate(decision: PlacementDecision | undefined): Promise<GenerationResult> {
    const { id, agent } = this.request;
    const { audit, offloader, placements } = this.rooms;
    const target = decision?.target ?? 'local';
    const started = Date.now();
    let result: GenerationResult;
    let ran: 'local' | 'cloud' = target;
    try {
      result = target === 'cloud' ? await this.cloud('') : await this.local('');
    } catch (error) {
      const other = target === 'cloud' ? 'local' : 'cloud';
      const movable =
        decision &&
        offloader &&
        !this.signal?.aborted &&
        offloader.fallback(target) &&
        (target === 'cloud'
          ? error instanceof OffloadError
          : !agent!.private && !offloader.cloudProblem() && localFailure(error));
      if (!movable) {
        if (decision) {
          void offloader!.record(decision, target, {
            latencyMs: Date.now() - started,
            error: true,
            usd: 0,
          });
        }
        throw error;
      }
      audit.record({
        kind: 'offload',
        subject: `request:${id}`,
        decision: `finish on ${other === 'local' ? 'the local model' : 'the cloud'}, continuing after ${this.shown.length} characters shown`,
        reason: `${target} failed: ${(error as Error).message}`,
        inputs: {
          from: target,
          to: other,
          shownChars: this.shown.length,
          shownTokens: this.tokens,
        },
      });
      void offloader!.record(decision!, target, {
        latencyMs: Date.now() - started,
        error: true,
        usd: 0,
      });
      ran = other;
      const prefix = this.shown;
      const rest = other === 'cloud' ? await this.cloud(prefix) : await this.local(prefix);
      result = { ...rest, text: prefix + rest.text };
    }
    if (decision) {
      placements.add(id, decision, ran);
      const usd = this.cloudUsage ? offloader!.cost(this.cloudUsage) : 0;
      void offloader!.record(
        decision,
        ran,
        { latencyMs: Date.now() - started, error: false, usd },
        this.cloudUsage?.total_tokens ?? 0,
      );
    }
    return result;
  }

  /** The tokens a continuation has left of the reply's budget. */
  private left(): number {
    return Math.max(1, (this.request.options.maxTokens ?? 512) - this.tokens);
  }

  /** A token from the host: progress for the watchdog, the first one timed, shown. */
  private localToken(t: GeneratedToken): void {
    this.record.lastProgress = Date.now();
    if (t.token !== undefined && this.tokens++ === 0) {
      const host = this.request.slot.name;
      this.rooms.telemetry.emit({ ...this.event, phase: 'first_token', host, at: Date.now() });
    }
    this.shown += t.text;
    this.onToken(t);
  }

  /** On the model's host, after `prefix` already shown; run again if the host restarts first. */
  private async local(prefix: string): Promise<GenerationResult> {
    const { id, slot, options } = this.request;
    const { pool, audit } = this.rooms;
    const o = prefix ? { ...options, assistantPrefix: prefix, maxTokens: this.left() } : options;
    for (let attempt = 1; ; attempt++) {
      try {
        return await pool.call(slot, (h) => h.stream(this.messages, o));
      } catch (error) {
        // A host that stopped before this request produced anything: run it again there.
        if (!(error instanceof HostRestartedError) || this.tokens > 0 || attempt > 2) throw error;
        if (this.signal?.aborted) throw this.signal.reason;
        audit.record({
          kind: 'resume',
          subject: `request:${id}`,
          decision: `run it again on the restarted host (attempt ${attempt + 1})`,
          reason: 'its host stopped before it produced a token, so nothing was streamed twice',
          inputs: { host: slot.name, error: error.message },
        });
        await slot.ready;
        this.record.lastProgress = Date.now();
      }
    }
  }

  /** On the cloud endpoint, after `prefix` already shown. */
  private async cloud(prefix: string): Promise<GenerationResult> {
    const { id, agent, options } = this.request;
    const { audit, telemetry } = this.rooms;
    const offloader = this.rooms.offloader!;
    const shownBefore = prefix.length;
    const reply = await offloader.chat(
      this.cloudMessages(agent!),
      {
        max_tokens: prefix ? this.left() : options.maxTokens!,
        temperature: options.temperature,
        top_p: options.topP,
        stop: options.stop ? [...options.stop] : undefined,
        seed: options.seed,
      },
      {
        signal: this.signal,
        shown: prefix || undefined,
        onText: (text) => {
          this.record.lastProgress = Date.now();
          if (this.tokens++ === 0) {
            telemetry.emit({ ...this.event, phase: 'first_token', host: 'cloud', at: Date.now() });
          }
          this.shown += text;
          this.onToken({ text });
        },
        onEvent: (e) =>
          audit.record({
            kind: 'offload',
            subject: `request:${id}`,
            decision:
              e.type === 'retry'
                ? `retry the cloud call (attempt ${e.attempt}) in ${e.waitMs} ms` +
                  (e.resumedAfterChars
                    ? `, continuing after ${e.resumedAfterChars} characters shown`
                    : '')
                : `cloud circuit breaker ${e.state}`,
            reason: e.type === 'retry' ? e.reason : `${e.failures} failure(s) in a row`,
            inputs: { ...e },
          }),
      },
    );
    this.cloudUsage = reply.usage;
    if (Object.keys(reply.redacted).length > 0) {
      audit.record({
        kind: 'offload',
        subject: `request:${id}`,
        decision: 'replaced personal data and secrets with placeholders before sending',
        reason: 'the policy redacts what leaves the device; the reply has them restored',
        inputs: { redacted: reply.redacted },
      });
    }
    return cloudResult(this.shown.slice(shownBefore), reply.finishReason);
  }

  /**
   * What an agent's request sends to the cloud: its messages, without recalled memory when
   * that memory is private (the messages as the caller sent them, with the agent's prompt).
   */
  private cloudMessages(agent: Readonly<AgentDefinition>): ChatMessage[] {
    const withMemory = this.messages as ChatMessage[];
    return memorySettings(agent).private === true
      ? (this.request.messages as ChatMessage[])
      : withMemory;
  }

  /**
   * Where a request of an agent placed 'cloud' or 'auto' runs, by the offload policy; the
   * audit log gets the decision and its reason.
   */
  private async place(
    agent: Readonly<AgentDefinition>,
    messages: ChatMessage[],
  ): Promise<PlacementDecision> {
    const { id, model, slot, options } = this.request;
    const { pool, telemetry, audit } = this.rooms;
    const offloader = this.rooms.offloader!;
    const text = messages.map((m) => m.content).join('\n');
    const promptTokens =
      slot.state === 'ready'
        ? (await pool.call(slot, (h) => h.countTokens(model, [text])))[0] + 4 * messages.length
        : Math.ceil(text.length / 4);
    const modelStats = telemetry.agentList().filter((a) => a.model === model);
    const measured = modelStats.find((a) => a.lastDecodeTokensPerSecond);
    const queue = modelStats.reduce((n, a) => n + a.queued, 0) - 1;
    const battery = await offloader.battery();
    const decision = offloader.decide({
      placement: agent.placement ?? 'local',
      private: agent.private === true,
      localProblem: slot.state === 'ready' ? undefined : `the local model's host is ${slot.state}`,
      promptTokens,
      maxTokens: options.maxTokens ?? 512,
      local: {
        prefillTokensPerSecond: measured?.lastPrefillTokensPerSecond,
        decodeTokensPerSecond: measured?.lastDecodeTokensPerSecond,
        queue: Math.max(0, queue),
        f16: slot.facts?.features.shaderF16 ?? false,
      },
      battery,
    });
    audit.record({
      kind: 'placement',
      subject: `request:${id}`,
      decision:
        decision.target === 'cloud'
          ? `sent to cloud (${offloader.policy.cloud?.model})`
          : `run locally (${model})`,
      reason: decision.reason,
      inputs: {
        agent: agent.name,
        placement: agent.placement ?? 'local',
        rule: decision.rule,
        promptTokens,
        queue: Math.max(0, queue),
        battery,
      },
    });
    return decision;
  }
}

/** A cloud reply in the shape of a local generation's result (its usage travels apart). */
function cloudResult(text: string, finishReason: 'stop' | 'length'): GenerationResult {
  return resultWithoutSteps([], text, finishReason);
}

/** Failures of the local side that the cloud can finish for: the device, its memory, its host. */
function localFailure(error: unknown): boolean {
  return (
    error instanceof HostRestartedError ||
    error instanceof DeviceLostError ||
    error instanceof GpuAllocationError ||
    error instanceof WebGpuUnavailableError ||
    error instanceof KvCacheFullError
  );
}
