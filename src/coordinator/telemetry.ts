// Perception: what every agent, model and host worker is doing, as an event stream and as a
// snapshot the coordinator (and a person) can read.
import type { HostedModelStats } from '../worker/protocol.js';

export type TelemetryEvent =
  | {
      type: 'request';
      phase: 'queued' | 'started' | 'first_token' | 'finished' | 'failed' | 'cancelled';
      requestId: string;
      agent?: string;
      model: string;
      host: string;
      at: number;
      /** finished: tokens generated, time to first token, decode speed. */
      completionTokens?: number;
      promptTokens?: number;
      cachedTokens?: number;
      timeToFirstTokenMs?: number;
      prefillTokensPerSecond?: number;
      decodeTokensPerSecond?: number;
      error?: string;
    }
  | {
      /** Tokens left a model's KV cache (see the audit log's eviction entries for why). */
      type: 'kv';
      kind: 'window' | 'idle' | 'session';
      host: string;
      model: string;
      session: string;
      tokens: number;
      at: number;
    }
  | {
      type: 'host';
      phase: 'starting' | 'ready' | 'gone';
      host: string;
      at: number;
      reason?: string;
    };

export interface AgentTelemetry {
  name: string;
  model: string;
  /** Requests waiting or running. */
  queued: number;
  running: number;
  completed: number;
  errors: number;
  cancelled: number;
  lastTimeToFirstTokenMs?: number;
  lastPrefillTokensPerSecond?: number;
  lastDecodeTokensPerSecond?: number;
}

export interface HostTelemetry {
  name: string;
  state: 'starting' | 'ready' | 'restarting' | 'closed';
  restarts: number;
  /** Each model's scheduler, KV blocks and GPU bytes, as the host reported them. */
  models: HostedModelStats[];
  /** GPU bytes of every model on the host. */
  gpuBytes: number;
  errors: number;
}

export interface TelemetrySnapshot {
  at: number;
  agents: AgentTelemetry[];
  hosts: HostTelemetry[];
}

export class Telemetry {
  private readonly listeners = new Set<(e: TelemetryEvent) => void>();
  private readonly agents = new Map<string, AgentTelemetry>();
  private readonly history: TelemetryEvent[] = [];

  constructor(private readonly capacity = 10_000) {}

  agent(name: string, model: string): AgentTelemetry {
    let a = this.agents.get(name);
    if (!a) {
      a = { name, model, queued: 0, running: 0, completed: 0, errors: 0, cancelled: 0 };
      this.agents.set(name, a);
    }
    return a;
  }

  agentList(): AgentTelemetry[] {
    return [...this.agents.values()].map((a) => ({ ...a }));
  }

  emit(event: TelemetryEvent): void {
    this.history.push(event);
    if (this.history.length > this.capacity) this.history.shift();
    for (const listener of this.listeners) listener(event);
  }

  /** Events so far (the last `capacity`), oldest first. */
  events(filter?: (e: TelemetryEvent) => boolean): TelemetryEvent[] {
    return filter ? this.history.filter(filter) : [...this.history];
  }

  subscribe(listener: (e: TelemetryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
