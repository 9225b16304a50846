import * as Comlink from 'comlink';
import { HostRestartedError, RequestError } from '../errors.js';
import type { GeneratedToken, KvEvent } from '../model/language-model.js';
import type { HostConnection, SpawnHost } from '../worker/hosts.js';
import type {
  GpuFacts,
  LoadModelOptions,
  ModelHostInitOptions,
  ModelLoadProgress,
} from '../worker/protocol.js';
import type { AuditLog } from './audit.js';
import type { HostTelemetry, Telemetry } from './telemetry.js';

// The host workers: each a GPUDevice holding one or more models. The pool starts them, loads
// their models with options chosen from the adapter (and audited), routes their messages
// (tokens to the request that asked, KV evictions to the audit log and the agents' memory),
// and heals them: a host that crashes, loses its device or stops answering the watchdog's
// ping is restarted and its models reloaded.

/** A model the engine hosts: where its bytes come from and which host worker holds it. */
export interface ModelSpec {
  id: string;
  /** A URL (fetched with Range requests and cached), a File/Blob, bytes; in Node also a path. */
  source: string | URL | Blob | Uint8Array;
  /**
   * The host worker (one GPUDevice each) this model lives in; models naming the same host
   * share it. Default: a host of its own, named after the model.
   */
  host?: string;
  options?: Omit<LoadModelOptions, 'id'>;
}

/** One host worker and what the pool knows of it. */
export interface HostSlot {
  name: string;
  models: ModelSpec[];
  conn?: HostConnection;
  ready: Promise<void>;
  state: 'starting' | 'ready' | 'restarting' | 'closed';
  restarts: number;
  errors: number;
  facts?: GpuFacts;
}

/** A request running on a host: what the watchdog and a restart look at. */
export interface Inflight {
  id: string;
  slot: HostSlot;
  agent?: string;
  model: string;
  lastProgress: number;
}

/** A span of tokens that left a session's sliding window. */
export type WindowEviction = Extract<KvEvent, { kind: 'window' }>;

export interface HostPoolOptions {
  /** Starts a host worker (the page and Node entries pass theirs). */
  spawnHost: SpawnHost;
  /** The hosts' device options (features, power preference). */
  hostInit?: ModelHostInitOptions;
  /** Each model's load as it goes, reloads after a restart included. */
  onProgress?: (progress: ModelLoadProgress) => void;
  /** How many agents use `model`: each keeps a KV sequence of its own. */
  agentsOf: (model: string) => number;
  /** A span left the window of `session` on `model` (the audit log has it already). */
  onWindowEviction: (model: string, e: WindowEviction) => void;
  audit: AuditLog;
  telemetry: Telemetry;
  /** A running request with no token for this long makes the watchdog ping its host. */
  stallMs: number;
  /** A host that does not answer a ping within this is restarted. */
  pingTimeoutMs: number;
}

export class HostPool {
  private readonly hosts = new Map<string, HostSlot>();
  private readonly modelHost = new Map<string, HostSlot>();
  private readonly inflight = new Map<string, Inflight>();
  /** Where each request's streamed tokens go, by request id. */
  private readonly sinks = new Map<string, (token: GeneratedToken) => void>();
  private readonly watchdog: ReturnType<typeof setInterval>;
  private closed = false;

  constructor(private readonly options: HostPoolOptions) {
    this.watchdog = setInterval(() => void this.watch(), Math.max(50, options.stallMs / 2));
  }

  /** Puts a model on its host worker, starting the worker when it is the host's first. */
  place(spec: ModelSpec): void {
    if (this.modelHost.has(spec.id)) throw new RequestError(`model id "${spec.id}" is used twice`);
    const name = spec.host ?? spec.id;
    let slot = this.hosts.get(name);
    if (!slot) {
      slot = {
        name,
        models: [],
        ready: Promise.resolve(),
        state: 'starting',
        restarts: 0,
        errors: 0,
      };
      this.hosts.set(name, slot);
    }
    slot.models.push(spec);
    this.modelHost.set(spec.id, slot);
    this.options.audit.record({
      kind: 'placement',
      subject: `model:${spec.id}`,
      decision: `loads in host worker "${name}"`,
      reason: spec.host
        ? `the model spec names host "${spec.host}"`
        : 'each model gets a host worker (one GPUDevice) of its own unless its spec names one',
      inputs: { host: name, modelsOnHost: slot.models.map((m) => m.id) },
    });
    if (slot.models.length === 1) slot.ready = this.start(slot);
    else {
      const previous = slot.ready;
      slot.ready = previous.then(() => this.load(slot, spec));
    }
  }

  /** Every host started and every model loaded; rejects if one could not be. */
  async ready(): Promise<void> {
    await Promise.all([...this.hosts.values()].map((slot) => slot.ready));
  }

  /** The host holding `model`, if the engine hosts it. */
  slotOf(model: string): HostSlot | undefined {
    return this.modelHost.get(model);
  }

  /** The ids of the models the pool hosts, in the order they were placed. */
  models(): string[] {
    return [...this.modelHost.keys()];
  }

  hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  slot(name: string): HostSlot {
    const slot = this.hosts.get(name);
    if (!slot) throw new RequestError(`no host "${name}" (hosts: ${[...this.hosts.keys()]})`);
    return slot;
  }

  /** A call on the host that rejects, instead of hanging, when the worker goes away. */
  async call<T>(slot: HostSlot, body: (host: HostConnection['host']) => Promise<T>): Promise<T> {
    const conn = slot.conn;
    if (!conn) throw new HostRestartedError(slot.name, `host "${slot.name}" is not running`);
    return Promise.race([
      body(conn.host),
      conn.gone.then((reason) => {
        throw new HostRestartedError(
          slot.name,
          `host worker "${slot.name}" stopped (${reason}); the engine restarts it`,
        );
      }),
    ]);
  }

  /** A request starts running: the watchdog watches it, its tokens go to `sink`. */
  begin(record: Inflight, sink: (token: GeneratedToken) => void): void {
    this.inflight.set(record.id, record);
    this.sinks.set(record.id, sink);
  }

  /** The request ended; whether it had begun running. */
  end(id: string): boolean {
    this.sinks.delete(id);
    return this.inflight.delete(id);
  }

  /** Test and operations hooks: stop a host the hard way. */
  terminate(name: string): void {
    this.slot(name).conn?.terminate('terminated by debug.terminateHost');
  }

  async crash(name: string, how: 'exit' | 'device' | 'hang'): Promise<void> {
    const slot = this.slot(name);
    await slot.ready;
    // The worker dies before it can answer: do not wait for the reply.
    void slot.conn?.host.crash(how).catch(() => {});
  }

  /** Each host's state, restarts, errors and models (a host that does not answer: none). */
  async snapshot(): Promise<HostTelemetry[]> {
    return Promise.all(
      [...this.hosts.values()].map(async (slot) => {
        const models =
          slot.state === 'ready'
            ? await Promise.race([
                this.call(slot, (h) => h.stats()).catch(() => []),
                new Promise<[]>((resolve) =>
                  setTimeout(() => resolve([]), this.options.pingTimeoutMs),
                ),
              ])
            : [];
        return {
          name: slot.name,
          state: slot.state,
          restarts: slot.restarts,
          errors: slot.errors,
          models,
          gpuBytes: models.reduce((n, m) => n + m.gpuBytes, 0),
        };
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    await Promise.all(
      [...this.hosts.values()].map(async (slot) => {
        slot.state = 'closed';
        const conn = slot.conn;
        if (!conn) return;
        await Promise.race([
          conn.host.dispose().catch(() => {}),
          conn.gone,
          new Promise((resolve) => setTimeout(resolve, 2000)),
        ]);
        conn.terminate('the engine closed');
      }),
    );
  }

  /** Spawns the host's worker, acquires its device and loads its models. */
  private async start(slot: HostSlot): Promise<void> {
    const { telemetry } = this.options;
    slot.state = 'starting';
    telemetry.emit({ type: 'host', phase: 'starting', host: slot.name, at: Date.now() });
    const conn = this.options.spawnHost(slot.name);
    slot.conn = conn;
    conn.onMessage((message) => {
      if (message.type === 'agentgpu:kv') return this.evicted(slot, message.model, message.event);
      if (message.type === 'agentgpu:progress') return this.options.onProgress?.(message.progress);
      if (message.type !== 'agentgpu:tokens') return;
      const sink = this.sinks.get(message.requestId);
      for (const token of message.tokens) sink?.(token);
    });
    void conn.gone.then((reason) => this.lost(slot, conn, reason));
    slot.facts = await this.call(slot, (h) => h.init(this.options.hostInit ?? {}));
    for (const spec of slot.models) await this.load(slot, spec);
    slot.state = 'ready';
    telemetry.emit({ type: 'host', phase: 'ready', host: slot.name, at: Date.now() });
  }

  /** Loads one model, with options chosen from the adapter's facts (and audited). */
  private async load(slot: HostSlot, spec: ModelSpec): Promise<void> {
    const facts = slot.facts!;
    const agents = this.options.agentsOf(spec.id);
    const chosen: LoadModelOptions = {
      // An f16 cache halves KV memory where the adapter can store f16.
      kv: facts.features.shaderF16 ? 'f16' : 'f32',
      // Each agent's conversation keeps a sequence; the model's default session one, and
      // three more let one-off requests run beside them.
      sequences: agents + 4,
      whenFull: 'evict-idle',
    };
    const options = { ...chosen, ...spec.options, id: spec.id };
    this.options.audit.record({
      kind: 'configure',
      subject: `model:${spec.id}`,
      decision: `kv ${options.kv}, ${options.sequences} sequences, when full ${options.whenFull}`,
      reason:
        `${facts.features.shaderF16 ? 'the adapter has shader-f16, so K/V are stored as f16' : 'the adapter has no shader-f16, so K/V stay f32'}; ` +
        `${agents} agent(s) use the model and each keeps a conversation; ` +
        'idle conversations give way when the cache is full' +
        (spec.options ? '; the model spec overrides some of this' : ''),
      inputs: {
        host: slot.name,
        shaderF16: facts.features.shaderF16,
        maxBufferSize: facts.limits.maxBufferSize,
        maxStorageBufferBindingSize: facts.limits.maxStorageBufferBindingSize,
        agents,
        overrides: spec.options ?? {},
      },
    });
    // Bytes move to the host without a structured-clone copy: a copy of ours is transferred
    // (ours stays for restarts). URLs and Blobs travel as references.
    const source =
      spec.source instanceof URL
        ? spec.source.href
        : spec.source instanceof Uint8Array
          ? spec.source.slice()
          : spec.source;
    await this.call(slot, (h) =>
      h.loadModel(
        source instanceof Uint8Array ? Comlink.transfer(source, [source.buffer]) : source,
        options,
      ),
    );
    const stats = await this.call(slot, (h) => h.stats());
    const plan = stats.find((m) => m.id === spec.id)?.memory;
    if (plan) {
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
      this.options.audit.record({
        kind: 'configure',
        subject: `model:${spec.id}`,
        decision:
          `holds ${mib(plan.total)} of GPU buffers: weights ${mib(plan.weights)}, ` +
          `${plan.kv} KV cache ${mib(plan.kvCache)} (${plan.kvBlocks} blocks), activations ${mib(plan.activations)}`,
        reason:
          plan.kvLimitedBy === 'context'
            ? "the KV pool holds every sequence's whole context"
            : `the KV pool was cut to fit ${plan.kvLimitedBy === 'budget' ? 'the configured kvBudget' : "the adapter's largest binding"}; sequences share it`,
        inputs: { host: slot.name, ...plan },
      });
    }
  }

  /** Tokens left a model's KV cache: the decision goes into the audit log. */
  private evicted(slot: HostSlot, model: string, e: KvEvent): void {
    const subject = `model:${model}/${e.session}`;
    const at = { host: slot.name, model, session: e.session, tokens: e.tokens };
    if (e.kind === 'window') {
      this.options.onWindowEviction(model, e);
      this.options.audit.record({
        kind: 'eviction',
        subject,
        decision: `evict tokens ${e.range[0]}..${e.range[1]} from the sliding window`,
        reason:
          'the window was full: its oldest tokens after the attention sinks leave, the rest ' +
          'are rotated back so generation goes on in constant memory',
        inputs: { ...at, range: e.range, text: e.text },
      });
    } else {
      this.options.audit.record({
        kind: 'eviction',
        subject,
        decision:
          e.kind === 'idle'
            ? `empty idle session "${e.session}" (${e.tokens} tokens)`
            : `close idle session "${e.session}" (${e.tokens} tokens)`,
        reason:
          e.kind === 'idle'
            ? `session "${e.forSession}" needed KV blocks and none were free; ` +
              `"${e.session}" was the least recently used idle session`
            : `session "${e.forSession}" needed a KV sequence and all were taken; ` +
              `"${e.session}" was the least recently used idle one`,
        inputs: { ...at, forSession: e.forSession },
      });
    }
    this.options.telemetry.emit({ type: 'kv', ...at, kind: e.kind, at: Date.now() });
  }

  /** A host worker is gone: fail or resume its requests (their runners see it) and restart it. */
  private lost(slot: HostSlot, conn: HostConnection, reason: string): void {
    if (this.closed || slot.conn !== conn || slot.state === 'closed') return;
    const { audit, telemetry } = this.options;
    slot.errors++;
    const running = [...this.inflight.values()].filter((r) => r.slot === slot);
    telemetry.emit({ type: 'host', phase: 'gone', host: slot.name, at: Date.now(), reason });
    slot.restarts++;
    slot.state = 'restarting';
    audit.record({
      kind: 'restart',
      subject: `host:${slot.name}`,
      decision: `restart host "${slot.name}" and reload ${slot.models.map((m) => m.id).join(', ')}`,
      reason: `the host worker stopped: ${reason}`,
      inputs: {
        reason,
        restarts: slot.restarts,
        requestsInFlight: running.map((r) => r.id),
      },
    });
    conn.terminate(reason);
    slot.ready = this.start(slot);
    slot.ready.catch((error) => {
      slot.errors++;
      audit.record({
        kind: 'restart',
        subject: `host:${slot.name}`,
        decision: 'restart failed',
        reason: String((error as Error)?.message ?? error),
        inputs: { restarts: slot.restarts },
      });
    });
  }

  /** The watchdog: a host whose requests make no progress must still answer a ping. */
  private async watch(): Promise<void> {
    const { stallMs, pingTimeoutMs } = this.options;
    const now = Date.now();
    const stalled = new Set<HostSlot>();
    for (const r of this.inflight.values()) {
      if (r.slot.state === 'ready' && now - r.lastProgress > stallMs) stalled.add(r.slot);
    }
    for (const slot of stalled) {
      const conn = slot.conn!;
      const answered = await Promise.race([
        conn.host.ping().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), pingTimeoutMs)),
      ]);
      if (answered || slot.conn !== conn) {
        for (const r of this.inflight.values()) if (r.slot === slot) r.lastProgress = Date.now();
        continue;
      }
      const reason = `no progress for ${stallMs} ms and no answer to a ping within ${pingTimeoutMs} ms`;
      this.options.audit.record({
        kind: 'watchdog',
        subject: `host:${slot.name}`,
        decision: 'terminate the host worker',
        reason,
        inputs: { stallMs, pingTimeoutMs },
      });
      conn.terminate(`the watchdog found it stuck: ${reason}`);
    }
  }
}
