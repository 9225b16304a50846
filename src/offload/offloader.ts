// The engine's cloud tier: the policy, the endpoint's client, placement decisions, redaction
// on the way out and restoration on the way back, and learning from outcomes.
import { OffloadError } from '../errors.js';
import type { ChatMessage } from '../model/chat/index.js';
import type { CompletionUsage } from '../api/openai.js';
import {
  LinUcbBandit,
  freshState,
  indexedDbStateStore,
  memoryStateStore,
  reward,
  type OffloadStateStore,
  type Outcome,
} from './bandit.js';
import { OpenAICompatibleClient, type EndpointEvent } from './client.js';
import { decidePlacement, type PlacementDecision, type PlacementInput } from './placement.js';
import { parseOffloadPolicy, type OffloadPolicy } from './policy.js';
import { Redactor, type PiiKind } from './redact.js';

export interface OffloadOptions {
  /** The policy (an object or its JSON text), checked against the schema. */
  policy: OffloadPolicy | string | Record<string, unknown>;
  /**
   * The cloud API key, asked for at each request: from a prompt, a password manager, a
   * server that mints short-lived keys. Nothing stores it for you.
   */
  apiKey?: () => string | undefined | Promise<string | undefined>;
  fetch?: typeof fetch;
  /** Where learning and today's spending persist (default: IndexedDB in a page, else memory). */
  state?: OffloadStateStore;
  /** The device's battery (default: navigator.getBattery() where the browser has it). */
  battery?: () => Promise<{ level: number; charging: boolean } | undefined>;
}

export interface CloudReply {
  text: string;
  finishReason: 'stop' | 'length';
  usage: CompletionUsage;
  /** What redaction replaced, by kind (counts only). */
  redacted: Partial<Record<PiiKind, number>>;
}

const CONTEXT_DIMENSIONS = 4;

async function browserBattery(): Promise<{ level: number; charging: boolean } | undefined> {
  const nav = (
    globalThis as {
      navigator?: { getBattery?: () => Promise<{ level: number; charging: boolean }> };
    }
  ).navigator;
  if (!nav?.getBattery) return undefined;
  try {
    const b = await nav.getBattery();
    return { level: b.level, charging: b.charging };
  } catch {
    return undefined;
  }
}

export class Offloader {
  private constructor(
    readonly policy: OffloadPolicy,
    readonly client: OpenAICompatibleClient | undefined,
    readonly bandit: LinUcbBandit,
    private readonly store: OffloadStateStore,
    private readonly batteryOf: () => Promise<{ level: number; charging: boolean } | undefined>,
  ) {}

  static async create(options: OffloadOptions): Promise<Offloader> {
    const policy = parseOffloadPolicy(options.policy);
    const client = policy.cloud
      ? new OpenAICompatibleClient({
          baseURL: policy.cloud.baseURL,
          apiKey: options.apiKey,
          retries: policy.cloud.retries,
          timeoutMs: policy.cloud.timeoutMs,
          breaker: policy.cloud.breaker,
          fetch: options.fetch,
        })
      : undefined;
    const page = typeof indexedDB !== 'undefined';
    const store = options.state ?? (page ? await indexedDbStateStore() : memoryStateStore());
    const saved = await store.load();
    const state = saved?.dimensions === CONTEXT_DIMENSIONS ? saved : freshState(CONTEXT_DIMENSIONS);
    return new Offloader(
      policy,
      client,
      new LinUcbBandit(state),
      store,
      options.battery ?? browserBattery,
    );
  }

  /** Why the cloud cannot take a request now, or undefined. */
  cloudProblem(): string | undefined {
    if (!this.client) return 'the policy names no cloud endpoint';
    if (this.client.breaker.state === 'open') {
      return `the cloud endpoint's circuit breaker is open after repeated failures`;
    }
    return undefined;
  }

  battery() {
    return this.batteryOf();
  }

  decide(input: Omit<PlacementInput, 'spent' | 'cloudProblem'>): PlacementDecision {
    const memory = (globalThis as { navigator?: { deviceMemory?: number } }).navigator
      ?.deviceMemory;
    return decidePlacement(
      this.policy,
      {
        deviceMemoryGB: memory,
        ...input,
        cloudProblem: this.cloudProblem(),
        spent: this.bandit.spent(),
      },
      this.bandit,
    );
  }

  /**
   * The app's rating of a reply (0 bad .. 1 good): the bandit learns it for the side that
   * answered, when the bandit chose that side.
   */
  async rate(
    decision: PlacementDecision,
    target: 'local' | 'cloud',
    quality: number,
  ): Promise<void> {
    if (!decision.context) return;
    this.bandit.update(target, decision.context, quality - 0.5);
    await this.store.save(this.bandit.state).catch(() => {});
  }

  /** Whether a failure on one side may finish on the other. */
  fallback(from: 'cloud' | 'local'): boolean {
    const f = this.policy.fallback ?? {};
    return from === 'cloud' ? f.cloudToLocal !== false : f.localToCloud !== false;
  }

  /**
   * A chat reply from the cloud, streamed through `onText` with placeholders restored. With
   * `shown`, the reply already began (elsewhere) with that text: the cloud continues it.
   */
  async chat(
    messages: readonly ChatMessage[],
    params: {
      max_tokens: number;
      temperature?: number;
      top_p?: number;
      stop?: string[];
      seed?: number;
    },
    options: {
      signal?: AbortSignal;
      onText: (text: string) => void;
      onEvent?: (e: EndpointEvent) => void;
      shown?: string;
    },
  ): Promise<CloudReply> {
    const client = this.client;
    if (!client || !this.policy.cloud)
      throw new OffloadError('none', 'no cloud endpoint is configured');
    const redactor = this.policy.redact === false ? undefined : new Redactor();
    const out = (t: string) => redactor?.redact(t) ?? t;
    const sent = messages.map((m) => ({ role: m.role, content: out(m.content) }));
    const progress = {
      text: options.shown ? out(options.shown) : '',
      finishReason: null as string | null,
    };
    const restore = redactor?.restoreStream();
    let text = '';
    let usage: CompletionUsage | undefined;
    const stream = client.chatCompletionStream(
      {
        model: this.policy.cloud.model,
        messages: sent,
        max_tokens: params.max_tokens,
        temperature: params.temperature,
        top_p: params.top_p,
        stop: params.stop,
        seed: params.seed,
        stream_options: { include_usage: true },
      },
      { signal: options.signal, onEvent: options.onEvent },
      progress,
    );
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const piece = chunk.choices?.[0]?.delta?.content;
      if (!piece) continue;
      const shown = restore ? restore.push(piece) : piece;
      if (shown) {
        text += shown;
        options.onText(shown);
      }
    }
    const rest = restore?.end() ?? '';
    if (rest) {
      text += rest;
      options.onText(rest);
    }
    return {
      text,
      finishReason: progress.finishReason === 'length' ? 'length' : 'stop',
      usage: usage ?? {
        prompt_tokens: Math.ceil(sent.reduce((n, m) => n + m.content.length, 0) / 4),
        completion_tokens: Math.ceil(text.length / 4),
        total_tokens: 0,
      },
      redacted: redactor?.found ?? {},
    };
  }

  /** Money a cloud reply cost, by the policy's prices. */
  cost(usage: CompletionUsage): number {
    const b = this.policy.budget ?? {};
    return (
      (usage.prompt_tokens * (b.usdPerMillionPromptTokens ?? 0) +
        usage.completion_tokens * (b.usdPerMillionCompletionTokens ?? 0)) /
      1e6
    );
  }

  /** Learns from an outcome (bandit decisions) and counts cloud spending; persists both. */
  async record(
    decision: PlacementDecision,
    target: 'local' | 'cloud',
    outcome: Outcome,
    tokens = 0,
  ): Promise<void> {
    if (target === 'cloud') this.bandit.spend(tokens, outcome.usd);
    if (decision.context) {
      const budget = this.policy.rules?.latencyBudgetMs ?? 10_000;
      this.bandit.update(target, decision.context, reward(outcome, budget));
    }
    await this.store.save(this.bandit.state).catch(() => {});
  }
}
