import * as Comlink from 'comlink';
import {
  AgentGpuError,
  DeviceLostError,
  GpuAllocationError,
  HostRestartedError,
  KvCacheFullError,
  ModelNotFoundError,
  OffloadError,
  QueueFullError,
  RequestError,
  WebGpuUnavailableError,
} from '../errors.js';
import { Offloader, type OffloadOptions } from '../offload/offloader.js';
import type { PlacementDecision } from '../offload/placement.js';
import type { ChatMessage } from '../model/chat/index.js';
import type { ResponseFormat } from '../model/grammar/constraint.js';
import type { MemoryStore } from '../memory/store.js';
import { memoryLines, memoryPrompt, type MemoryPrompt } from '../memory/prompt.js';
import type { Embedder } from '../memory/onnx-embedder.js';
import type { MemoryKind } from '../memory/schema.js';
import type { KvEvent } from '../model/language-model.js';
import type { JsonSchema } from '../model/grammar/json-schema.js';
import type { GeneratedToken, GenerationResult } from '../model/language-model.js';
import { resultWithoutSteps } from '../model/result.js';
import type {
  GpuFacts,
  LoadModelOptions,
  ModelConfig,
  ModelHostInitOptions,
  ModelLoadProgress,
  WorkerGenerateOptions,
} from '../worker/protocol.js';
import { AuditLog } from './audit.js';
import type { HostConnection, SpawnHost } from '../worker/hosts.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageToolCall,
  ChatCompletionStream,
  Completion,
  CompletionUsage,
  CompletionCreateParams,
  CompletionStream,
  CreateEmbeddingResponse,
  EmbeddingCreateParams,
  FinishReason,
  Model,
  RequestOptions,
} from '../api/openai.js';
import {
  checkChatParams,
  checkCompletionParams,
  checkEmbeddingParams,
  messageText,
} from './validate.js';
import { runTaskGraph, type TaskGraph, type TaskGraphResult } from './task-graph.js';
import { Telemetry, type AgentTelemetry, type TelemetrySnapshot } from './telemetry.js';

// The coordinator: agents over models in model-host workers, an OpenAI-shaped API, task
// graphs, telemetry, a decision audit log, and self-healing (a host that crashes, loses its
// device or stops answering is restarted and its models reloaded).

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

export interface AgentDefinition {
  name: string;
  /** A model id of the engine. */
  model: string;
  systemPrompt?: string;
  /** 'background' agents' steps wait behind 'interactive' ones (default 'interactive'). */
  role?: 'interactive' | 'background';
  /**
   * Where the agent's requests run: 'local' (its model's host worker, the default), 'cloud'
   * (the engine's offload endpoint) or 'auto' (the offload policy's rules, then what it learned;
   * each decision and its reason go to the audit log). A failure on one side finishes on the
   * other where the policy allows, continuing the text already shown.
   */
  placement?: 'local' | 'cloud' | 'auto';
  /** A private agent's requests, and its memory, never leave the device. */
  private?: boolean;
  /**
   * Long-term memory (the engine's `memory` store): each reply's exchange is kept as episodes,
   * the memory most relevant to the new message goes into the system prompt within
   * `budgetTokens` (default 256), and with a `summarizer` agent every span that leaves this
   * agent's KV window is summarized into the store. `budgetTokens: 0` keeps memory without
   * recalling it into prompts. Each kept item gets an embedding for hybrid retrieval: from the
   * engine's `embedder` when it has one, else the mean-pooled hidden states of the agent's own
   * model; `embeddings: false` searches the text alone.
   */
  memory?:
    | boolean
    | {
        budgetTokens?: number;
        k?: number;
        summarizer?: string;
        summaryTokens?: number;
        embeddings?: boolean;
        /** Recalled memory stays on the device: requests sent to the cloud go without it. */
        private?: boolean;
      };
  /**
   * The agent keeps its conversation: each request carries only the new messages, and the
   * host feeds only them after the conversation so far (through the KV window), instead of the
   * client resending the whole conversation.
   */
  keepsConversation?: boolean;
  limits?: {
    /** Tokens one reply may take at most (default 512). */
    maxTokens?: number;
    /** Requests waiting or running at once before QueueFullError (default 16). */
    queue?: number;
  };
}

/** Checks an agent definition and returns it frozen. */
export function defineAgent(agent: AgentDefinition): Readonly<AgentDefinition> {
  if (!agent.name) throw new RequestError('an agent needs a name', 'name');
  if (!agent.model) throw new RequestError(`agent "${agent.name}" needs a model`, 'model');
  if (agent.placement !== undefined && !['local', 'cloud', 'auto'].includes(agent.placement)) {
    throw new RequestError(
      `agent "${agent.name}": placement "${String(agent.placement)}" is not one of local, cloud, auto`,
      'placement',
    );
  }
  if (agent.private && agent.placement === 'cloud') {
    throw new RequestError(
      `agent "${agent.name}" is private and placed in the cloud: a private agent never leaves ` +
        "the device; place it 'local' or 'auto'",
      'placement',
    );
  }
  const queue = agent.limits?.queue;
  if (queue !== undefined && !(Number.isInteger(queue) && queue > 0)) {
    throw new RequestError(`agent "${agent.name}": limits.queue must be a positive integer`);
  }
  return Object.freeze({ ...agent });
}

/** The long-term memory the engine uses (a MemoryStore, in a page). */
export type EngineMemory = Pick<
  MemoryStore,
  'search' | 'addMessages' | 'addSummary' | 'addEmbedding'
>;

export interface EngineOptions {
  models: ModelSpec[];
  /** Long-term memory for agents that ask for it (`await MemoryStore.open()` in a page). */
  memory?: EngineMemory;
  /**
   * Sentence embeddings for memory retrieval (`await loadEmbedder({ model, tokenizer })`: an
   * ONNX model in its own worker). Without one, agents' memory vectors come from their own
   * model's hidden states.
   */
  embedder?: Embedder;
  /**
   * The cloud tier: an OpenAI-compatible endpoint, the policy for agents placed 'cloud' or
   * 'auto', and where the API key comes from (src/offload).
   */
  offload?: OffloadOptions;
  agents?: AgentDefinition[];
  /** Starts a host worker (the page and Node entries pass theirs). */
  spawnHost: SpawnHost;
  /** The hosts' device options (features, power preference). */
  hostInit?: ModelHostInitOptions;
  /**
   * Each model's load as it goes (as WebLLM's initProgressCallback): bytes downloaded or read
   * from the cache, weights uploaded, kernels compiled, with a line of text for a status bar.
   * A host that restarts reports its models' reloads too.
   */
  onProgress?: (progress: ModelLoadProgress) => void;
  watchdog?: {
    /** A running request with no token for this long makes the watchdog ping its host. */
    stallMs?: number;
    /** A host that does not answer a ping within this is restarted. */
    pingTimeoutMs?: number;
  };
}

interface HostSlot {
  name: string;
  models: ModelSpec[];
  conn?: HostConnection;
  ready: Promise<void>;
  state: 'starting' | 'ready' | 'restarting' | 'closed';
  restarts: number;
  errors: number;
  facts?: GpuFacts;
}

interface Inflight {
  id: string;
  slot: HostSlot;
  agent?: string;
  model: string;
  lastProgress: number;
}

let engines = 0;

/** Evicted text one summary takes at most (more waits for the next summary). */
const SUMMARY_CHARS = 1200;

export class Engine {
  readonly audit = new AuditLog();
  readonly telemetry: Telemetry & { snapshot(): Promise<TelemetrySnapshot> };
  readonly chat: {
    completions: {
      create(
        params: ChatCompletionCreateParamsNonStreaming,
        options?: RequestOptions,
      ): Promise<ChatCompletion>;
      create(
        params: ChatCompletionCreateParamsStreaming,
        options?: RequestOptions,
      ): Promise<ChatCompletionStream>;
      create(
        params: ChatCompletionCreateParams,
        options?: RequestOptions,
      ): Promise<ChatCompletion | ChatCompletionStream>;
    };
  };
  /** Raw text completions of a model (OpenAI's /v1/completions). */
  readonly completions: {
    create(
      params: CompletionCreateParams & { stream?: false | null },
      options?: RequestOptions,
    ): Promise<Completion>;
    create(
      params: CompletionCreateParams & { stream: true },
      options?: RequestOptions,
    ): Promise<CompletionStream>;
    create(
      params: CompletionCreateParams,
      options?: RequestOptions,
    ): Promise<Completion | CompletionStream>;
  };
  /**
   * Sentence embeddings (OpenAI's /v1/embeddings): the engine's embedder when `model` names
   * it, else a hosted model's mean-pooled hidden states.
   */
  readonly embeddings: {
    create(
      params: EmbeddingCreateParams,
      options?: RequestOptions,
    ): Promise<CreateEmbeddingResponse>;
  };
  readonly models: { list(): Promise<{ object: 'list'; data: Model[] }> };
  /** Test and operations hooks: stop a host the hard way and watch the engine heal. */
  readonly debug: {
    terminateHost(name: string): void;
    crashHost(name: string, how: 'exit' | 'device' | 'hang'): Promise<void>;
    hostNames(): string[];
  };

  /** The cloud tier, when the engine has one. */
  offloader?: Offloader;
  /** Recent placement decisions by request id, for rate() (the last 256). */
  private readonly placements = new Map<
    string,
    { decision: PlacementDecision; ran: 'local' | 'cloud' }
  >();
  private readonly hosts = new Map<string, HostSlot>();
  private readonly modelHost = new Map<string, HostSlot>();
  private readonly configs = new Map<string, ModelConfig>();
  private readonly agents = new Map<string, Readonly<AgentDefinition>>();
  private readonly inflight = new Map<string, Inflight>();
  /** Where each streamed request's tokens go, by request id. */
  private readonly tokenSinks = new Map<string, (token: GeneratedToken) => void>();
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly prefix = `agentgpu-${++engines}`;
  private requests = 0;
  private closed = false;
  private readonly watchdog: ReturnType<typeof setInterval>;
  private readonly stallMs: number;
  private readonly pingTimeoutMs: number;

  private constructor(private readonly options: EngineOptions) {
    const telemetry = new Telemetry();
    this.telemetry = Object.assign(telemetry, { snapshot: () => this.snapshot() });
    const create = (params: ChatCompletionCreateParams, request: RequestOptions = {}) =>
      params.stream ? this.stream(params, request) : this.complete(params, request);
    this.chat = { completions: { create: create as Engine['chat']['completions']['create'] } };
    const createCompletion = (params: CompletionCreateParams, request: RequestOptions = {}) =>
      this.textCompletion(params, request);
    this.completions = { create: createCompletion as Engine['completions']['create'] };
    this.embeddings = { create: (params, request) => this.embed(params, request) };
    this.models = { list: async () => ({ object: 'list', data: this.modelList() }) };
    this.debug = {
      terminateHost: (name) => this.slot(name).conn?.terminate('terminated by debug.terminateHost'),
      crashHost: async (name, how) => {
        const slot = this.slot(name);
        await slot.ready;
        // The worker dies before it can answer: do not wait for the reply.
        void slot.conn?.host.crash(how).catch(() => {});
      },
      hostNames: () => [...this.hosts.keys()],
    };
    this.stallMs = options.watchdog?.stallMs ?? 60_000;
    this.pingTimeoutMs = options.watchdog?.pingTimeoutMs ?? 5_000;
    this.watchdog = setInterval(() => void this.watch(), Math.max(50, this.stallMs / 2));
  }

  /** Starts every host worker and loads every model; rejects (all stopped) if one cannot. */
  static async create(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    try {
      if (options.offload) engine.offloader = await Offloader.create(options.offload);
      for (const spec of options.models) engine.place(spec);
      for (const agent of options.agents ?? []) engine.addAgent(agent);
      await Promise.all([...engine.hosts.values()].map((slot) => slot.ready));
      return engine;
    } catch (error) {
      await engine.close();
      throw error;
    }
  }

  /** Adds an agent (defineAgent's checks apply) over one of the engine's models. */
  addAgent(definition: AgentDefinition): void {
    const agent = defineAgent(definition);
    if (!this.modelHost.has(agent.model)) {
      throw new RequestError(
        `agent "${agent.name}" names model "${agent.model}", which this engine does not host ` +
          `(models: ${[...this.modelHost.keys()].join(', ')})`,
        'model',
      );
    }
    if (this.agents.has(agent.name) || this.modelHost.has(agent.name)) {
      throw new RequestError(`the name "${agent.name}" is taken`, 'name');
    }
    if (agent.memory && !this.options.memory) {
      throw new RequestError(
        `agent "${agent.name}" asks for memory, but the engine has none: pass ` +
          '`memory: await MemoryStore.open()` to createEngine',
        'memory',
      );
    }
    if ((agent.placement ?? 'local') !== 'local' && !this.options.offload) {
      throw new RequestError(
        `agent "${agent.name}" is placed '${agent.placement}', but the engine has no cloud: pass ` +
          '`offload: { policy }` to createEngine',
        'placement',
      );
    }
    this.agents.set(agent.name, agent);
    this.telemetry.agent(agent.name, agent.model);
    const slot = this.modelHost.get(agent.model)!;
    this.audit.record({
      kind: 'placement',
      subject: `agent:${agent.name}`,
      decision: `runs on host "${slot.name}" with model "${agent.model}"`,
      reason:
        'its model lives there; agents sharing a model are sessions of one host worker, ' +
        'decoded in batched steps, not copies of its weights',
      inputs: { model: agent.model, host: slot.name, role: agent.role ?? 'interactive' },
    });
  }

  /** Runs a task graph: independent steps concurrently, each on its agent, outputs flowing on. */
  run(graph: TaskGraph, options: RequestOptions = {}): Promise<TaskGraphResult> {
    return runTaskGraph(this, graph, options);
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

  /** Puts a model on its host worker, starting the worker when it is the host's first. */
  private place(spec: ModelSpec): void {
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
    this.audit.record({
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

  /** Spawns the host's worker, acquires its device and loads its models. */
  private async start(slot: HostSlot): Promise<void> {
    slot.state = 'starting';
    this.telemetry.emit({ type: 'host', phase: 'starting', host: slot.name, at: Date.now() });
    const conn = this.options.spawnHost(slot.name);
    slot.conn = conn;
    conn.onMessage((message) => {
      if (message.type === 'agentgpu:kv') return this.evicted(slot, message.model, message.event);
      if (message.type === 'agentgpu:progress') return this.options.onProgress?.(message.progress);
      if (message.type !== 'agentgpu:tokens') return;
      const sink = this.tokenSinks.get(message.requestId);
      for (const token of message.tokens) sink?.(token);
    });
    void conn.gone.then((reason) => this.lost(slot, conn, reason));
    slot.facts = await this.call(slot, (h) => h.init(this.options.hostInit ?? {}));
    for (const spec of slot.models) await this.load(slot, spec);
    slot.state = 'ready';
    this.telemetry.emit({ type: 'host', phase: 'ready', host: slot.name, at: Date.now() });
  }

  /** Loads one model, with options chosen from the adapter's facts (and audited). */
  private async load(slot: HostSlot, spec: ModelSpec): Promise<void> {
    const facts = slot.facts!;
    const agents = (this.options.agents ?? []).filter((a) => a.model === spec.id).length;
    const chosen: LoadModelOptions = {
      // An f16 cache halves KV memory where the adapter can store f16.
      kv: facts.features.shaderF16 ? 'f16' : 'f32',
      // Each agent's conversation keeps a sequence; the model's default session one, and
      // three more let one-off requests run beside them.
      sequences: agents + 4,
      whenFull: 'evict-idle',
    };
    const options = { ...chosen, ...spec.options, id: spec.id };
    this.audit.record({
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
    const config = await this.call(slot, (h) =>
      h.loadModel(
        source instanceof Uint8Array ? Comlink.transfer(source, [source.buffer]) : source,
        options,
      ),
    );
    this.configs.set(spec.id, config);
    const stats = await this.call(slot, (h) => h.stats());
    const plan = stats.find((m) => m.id === spec.id)?.memory;
    if (plan) {
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
      this.audit.record({
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
      if (e.session.startsWith('agent:')) this.summarize(e.session.slice('agent:'.length), e);
      this.audit.record({
        kind: 'eviction',
        subject,
        decision: `evict tokens ${e.range[0]}..${e.range[1]} from the sliding window`,
        reason:
          'the window was full: its oldest tokens after the attention sinks leave, the rest ' +
          'are rotated back so generation goes on in constant memory',
        inputs: { ...at, range: e.range, text: e.text },
      });
    } else {
      this.audit.record({
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
    this.telemetry.emit({ type: 'kv', ...at, kind: e.kind, at: Date.now() });
  }

  /** A host worker is gone: fail or resume its requests (their runners see it) and restart it. */
  private lost(slot: HostSlot, conn: HostConnection, reason: string): void {
    if (this.closed || slot.conn !== conn || slot.state === 'closed') return;
    slot.errors++;
    const running = [...this.inflight.values()].filter((r) => r.slot === slot);
    this.telemetry.emit({ type: 'host', phase: 'gone', host: slot.name, at: Date.now(), reason });
    slot.restarts++;
    slot.state = 'restarting';
    this.audit.record({
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
      this.audit.record({
        kind: 'restart',
        subject: `host:${slot.name}`,
        decision: 'restart failed',
        reason: String((error as Error)?.message ?? error),
        inputs: { restarts: slot.restarts },
      });
    });
  }

  /** A call on the host that rejects, instead of hanging, when the worker goes away. */
  private async call<T>(
    slot: HostSlot,
    body: (host: HostConnection['host']) => Promise<T>,
  ): Promise<T> {
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

  /** The watchdog: a host whose requests make no progress must still answer a ping. */
  private async watch(): Promise<void> {
    const now = Date.now();
    const stalled = new Set<HostSlot>();
    for (const r of this.inflight.values()) {
      if (r.slot.state === 'ready' && now - r.lastProgress > this.stallMs) stalled.add(r.slot);
    }
    for (const slot of stalled) {
      const conn = slot.conn!;
      const answered = await Promise.race([
        conn.host.ping().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), this.pingTimeoutMs)),
      ]);
      if (answered || slot.conn !== conn) {
        for (const r of this.inflight.values()) if (r.slot === slot) r.lastProgress = Date.now();
        continue;
      }
      const reason = `no progress for ${this.stallMs} ms and no answer to a ping within ${this.pingTimeoutMs} ms`;
      this.audit.record({
        kind: 'watchdog',
        subject: `host:${slot.name}`,
        decision: 'terminate the host worker',
        reason,
        inputs: { stallMs: this.stallMs, pingTimeoutMs: this.pingTimeoutMs },
      });
      conn.terminate(`the watchdog found it stuck: ${reason}`);
    }
  }

  private slot(name: string): HostSlot {
    const slot = this.hosts.get(name);
    if (!slot) throw new RequestError(`no host "${name}" (hosts: ${[...this.hosts.keys()]})`);
    return slot;
  }

  private modelList(): Model[] {
    return [...this.modelHost.keys()].map((id) => ({
      id,
      object: 'model',
      created: this.created,
      owned_by: 'agentgpu',
    }));
  }

  /** What a request runs: its model, host, agent, prompt and generation options. */
  private resolve(params: ChatCompletionCreateParams, raw?: string) {
    if (this.closed) throw new AgentGpuError('the engine is closed');
    if (raw === undefined) checkChatParams(params);
    const named = params.agent ?? params.model;
    if (!named) throw new RequestError('a request names a model or an agent', 'model');
    const agent = this.agents.get(named);
    const model = agent ? agent.model : named;
    const slot = this.modelHost.get(model);
    if (!slot) {
      throw new ModelNotFoundError(
        `no model or agent "${named}" (models: ${[...this.modelHost.keys()].join(', ')}; ` +
          `agents: ${[...this.agents.keys()].join(', ') || 'none'})`,
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
    const id = `${this.prefix}-${++this.requests}`;
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
      session: agent ? `agent:${agent.name}` : `request:${id}`,
      priority: params.priority ?? agent?.role ?? 'interactive',
      continueSession: agent?.keepsConversation === true,
      responseFormat,
      tools: params.tools,
      toolChoice: params.tool_choice,
      assistantPrefix,
    };
    return { id, agent, model, slot, messages, options };
  }

  /** Runs one request on its host: queue limits, progress, cancellation, restarts. */
  private async generate(
    request: ReturnType<Engine['resolve']>,
    signal: AbortSignal | undefined,
    onToken: (token: GeneratedToken) => void,
  ): Promise<{
    id: string;
    model: string;
    result: GenerationResult;
    recalled?: MemoryPrompt;
    /** A cloud reply's usage, as its endpoint counted it. */
    usage?: CompletionUsage;
  }> {
    const { id, agent, model, slot, options } = request;
    let { messages } = request;
    let recalled: MemoryPrompt | undefined;
    const stats: AgentTelemetry = this.telemetry.agent(agent?.name ?? model, model);
    const limit = agent?.limits?.queue ?? 16;
    if (stats.queued >= limit) {
      throw new QueueFullError(
        `agent "${stats.name}" has ${stats.queued} requests waiting or running, its limit: ` +
          'retry when one ends, or raise limits.queue',
      );
    }
    signal?.throwIfAborted();
    const event = { type: 'request' as const, requestId: id, agent: agent?.name, model };
    this.telemetry.emit({ ...event, phase: 'queued', host: slot.name, at: Date.now() });
    this.audit.record({
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
    const record: Inflight = { id, slot, agent: agent?.name, model, lastProgress: Date.now() };
    const onAbort = () => {
      this.audit.record({
        kind: 'cancel',
        subject: `request:${id}`,
        decision: 'cancel the generation and free its KV sequence',
        reason: 'the caller aborted it',
        inputs: { agent: agent?.name, model, tokensSoFar: tokens },
      });
      void this.call(slot, (h) => h.cancel(id)).catch(() => {});
    };
    let tokens = 0;
    /** The reply's text shown so far (a fallback continues after it). */
    let shown = '';
    let cloudUsage: CompletionUsage | undefined;
    try {
      await slot.ready;
      signal?.throwIfAborted();
      stats.running++;
      this.inflight.set(id, record);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.telemetry.emit({ ...event, phase: 'started', host: slot.name, at: Date.now() });
      this.tokenSinks.set(id, (t: GeneratedToken) => {
        record.lastProgress = Date.now();
        if (t.token !== undefined && tokens++ === 0) {
          this.telemetry.emit({ ...event, phase: 'first_token', host: slot.name, at: Date.now() });
        }
        shown += t.text;
        onToken(t);
      });
      const budget = typeof agent?.memory === 'object' ? agent.memory.budgetTokens : undefined;
      if (agent?.memory && budget !== 0 && typeof messages !== 'string') {
        [messages, recalled] = await this.recall(agent, slot, model, id, messages);
      }
      const chatMessages = typeof messages === 'string' ? undefined : messages;
      const decision =
        agent && chatMessages && (agent.placement ?? 'local') !== 'local'
          ? await this.placeRequest(agent, slot, model, id, chatMessages, options)
          : undefined;
      // A continuation gets the tokens the reply had left.
      const left = () => Math.max(1, (options.maxTokens ?? 512) - tokens);
      const local = async (prefix: string): Promise<GenerationResult> => {
        const o = prefix ? { ...options, assistantPrefix: prefix, maxTokens: left() } : options;
        for (let attempt = 1; ; attempt++) {
          try {
            return await this.call(slot, (h) => h.stream(messages, o));
          } catch (error) {
            // A host that stopped before this request produced anything: run it again there.
            if (!(error instanceof HostRestartedError) || tokens > 0 || attempt > 2) throw error;
            if (signal?.aborted) throw signal.reason;
            this.audit.record({
              kind: 'resume',
              subject: `request:${id}`,
              decision: `run it again on the restarted host (attempt ${attempt + 1})`,
              reason: 'its host stopped before it produced a token, so nothing was streamed twice',
              inputs: { host: slot.name, error: error.message },
            });
            await slot.ready;
            record.lastProgress = Date.now();
          }
        }
      };
      const cloud = async (prefix: string) => {
        const offloader = this.offloader!;
        const shownBefore = prefix.length;
        const reply = await offloader.chat(
          this.cloudMessages(agent!, chatMessages!, request.messages as ChatMessage[]),
          {
            max_tokens: prefix ? left() : options.maxTokens!,
            temperature: options.temperature,
            top_p: options.topP,
            stop: options.stop ? [...options.stop] : undefined,
            seed: options.seed,
          },
          {
            signal,
            shown: prefix || undefined,
            onText: (text) => {
              record.lastProgress = Date.now();
              if (tokens++ === 0) {
                this.telemetry.emit({
                  ...event,
                  phase: 'first_token',
                  host: 'cloud',
                  at: Date.now(),
                });
              }
              shown += text;
              onToken({ text });
            },
            onEvent: (e) =>
              this.audit.record({
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
        cloudUsage = reply.usage;
        if (Object.keys(reply.redacted).length > 0) {
          this.audit.record({
            kind: 'offload',
            subject: `request:${id}`,
            decision: 'replaced personal data and secrets with placeholders before sending',
            reason: 'the policy redacts what leaves the device; the reply has them restored',
            inputs: { redacted: reply.redacted },
          });
        }
        return cloudResult(shown.slice(shownBefore), reply.finishReason);
      };
      const target = decision?.target ?? 'local';
      const started = Date.now();
      let result: GenerationResult;
      let ran: 'local' | 'cloud' = target;
      try {
        result = target === 'cloud' ? await cloud('') : await local('');
      } catch (error) {
        const other = target === 'cloud' ? 'local' : 'cloud';
        const offloader = this.offloader;
        const movable =
          decision &&
          offloader &&
          !signal?.aborted &&
          offloader.fallback(target) &&
          (target === 'cloud'
            ? error instanceof OffloadError
            : !agent!.private && !offloader.cloudProblem() && localFailure(error));
        if (!movable) {
          if (decision) {
            void this.offloader!.record(decision, target, {
              latencyMs: Date.now() - started,
              error: true,
              usd: 0,
            });
          }
          throw error;
        }
        this.audit.record({
          kind: 'offload',
          subject: `request:${id}`,
          decision: `finish on ${other === 'local' ? 'the local model' : 'the cloud'}, continuing after ${shown.length} characters shown`,
          reason: `${target} failed: ${(error as Error).message}`,
          inputs: { from: target, to: other, shownChars: shown.length, shownTokens: tokens },
        });
        void offloader!.record(decision!, target, {
          latencyMs: Date.now() - started,
          error: true,
          usd: 0,
        });
        ran = other;
        const prefix = shown;
        const rest = other === 'cloud' ? await cloud(prefix) : await local(prefix);
        result = { ...rest, text: prefix + rest.text };
      }
      if (decision) {
        this.placements.set(id, { decision, ran });
        if (this.placements.size > 256)
          this.placements.delete(this.placements.keys().next().value!);
        const usd = cloudUsage ? this.offloader!.cost(cloudUsage) : 0;
        void this.offloader!.record(
          decision,
          ran,
          { latencyMs: Date.now() - started, error: false, usd },
          cloudUsage?.total_tokens ?? 0,
        );
      }
      if (agent?.memory && typeof request.messages !== 'string') {
        this.remember(agent, options.session!, request.messages, result);
      }
      if (cloudUsage) result.timings.promptTokens = cloudUsage.prompt_tokens;
      stats.completed++;
      stats.lastTimeToFirstTokenMs = result.timings.timeToFirstTokenMs;
      stats.lastPrefillTokensPerSecond = result.timings.prefillTokensPerSecond;
      stats.lastDecodeTokensPerSecond = result.timings.decodeTokensPerSecond;
      this.telemetry.emit({
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
      return { id, model, result, recalled, usage: cloudUsage };
    } catch (error) {
      const cancelled = signal?.aborted === true;
      if (cancelled) stats.cancelled++;
      else stats.errors++;
      this.telemetry.emit({
        ...event,
        phase: cancelled ? 'cancelled' : 'failed',
        host: slot.name,
        at: Date.now(),
        error: String((error as Error)?.message ?? error),
      });
      if (error instanceof HostRestartedError) {
        throw new HostRestartedError(
          slot.name,
          `${error.message}: this request had streamed ${tokens} token(s) and cannot be ` +
            'resumed without repeating them; send it again',
          { cause: error },
        );
      }
      throw cancelled ? signal!.reason : error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.tokenSinks.delete(id);
      stats.queued--;
      if (this.inflight.delete(id)) stats.running--;
      if (!agent && slot.state === 'ready') {
        void this.call(slot, (h) => h.closeSession(model, options.session!)).catch(() => {});
      }
    }
  }

  /**
   * Where a request of an agent placed 'cloud' or 'auto' runs, by the offload policy; the
   * audit log gets the decision and its reason.
   */
  private async placeRequest(
    agent: Readonly<AgentDefinition>,
    slot: HostSlot,
    model: string,
    id: string,
    messages: ChatMessage[],
    options: WorkerGenerateOptions,
  ): Promise<PlacementDecision> {
    const offloader = this.offloader!;
    const text = messages.map((m) => m.content).join('\n');
    const promptTokens =
      slot.state === 'ready'
        ? (await this.call(slot, (h) => h.countTokens(model, [text])))[0] + 4 * messages.length
        : Math.ceil(text.length / 4);
    const modelStats = this.telemetry.agentList().filter((a) => a.model === model);
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
    this.audit.record({
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

  /**
   * What an agent's request sends to the cloud: its messages, without recalled memory when
   * that memory is private (the messages as the caller sent them, with the agent's prompt).
   */
  private cloudMessages(
    agent: Readonly<AgentDefinition>,
    withMemory: ChatMessage[],
    given: ChatMessage[],
  ): ChatMessage[] {
    const memoryPrivate = typeof agent.memory === 'object' && agent.memory.private === true;
    return memoryPrivate ? given : withMemory;
  }

  /**
   * The agent's memory most relevant to the last user message, fitted to its token budget and
   * merged into the system prompt; the audit log says what went in and why.
   */
  private async recall(
    agent: Readonly<AgentDefinition>,
    slot: HostSlot,
    model: string,
    id: string,
    messages: ChatMessage[],
  ): Promise<[ChatMessage[], MemoryPrompt]> {
    const settings = typeof agent.memory === 'object' ? agent.memory : {};
    const query = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const embedder = this.embedderFor(agent);
    const vector = embedder && (await this.embedQuietly(agent, embedder, [query]))?.[0];
    const hits = await this.options.memory!.search(agent.name, query, {
      k: settings.k ?? 8,
      embedding: vector && { model: embedder.id, vector },
    });
    const lines = memoryLines(hits);
    const counts = await this.call(slot, (h) => h.countTokens(model, lines));
    const sizes = new Map(lines.map((line, i) => [line, counts[i]]));
    const recalled = memoryPrompt(
      hits,
      settings.budgetTokens ?? 256,
      (t) => sizes.get(t) ?? Math.ceil(t.length / 3),
    );
    this.audit.record({
      kind: 'memory',
      subject: `request:${id}`,
      decision: `add ${recalled.included.length} memory item(s), ${recalled.tokens} tokens, to the prompt`,
      reason:
        recalled.included.length > 0
          ? recalled.included.map((m) => `${m.kind} #${m.id}: ${m.why}`).join('; ')
          : hits.length > 0
            ? 'nothing retrieved fit the token budget'
            : 'nothing in memory matched the message',
      inputs: {
        agent: agent.name,
        query,
        retrieved: hits.length,
        omitted: recalled.omitted,
        embedding: vector ? embedder.id : 'none (text only)',
        budgetTokens: settings.budgetTokens ?? 256,
      },
    });
    if (!recalled.text) return [messages, recalled];
    if (agent.keepsConversation) {
      // The conversation's system prompt stays as it began; memory joins the new turn.
      const at = messages.findIndex((m) => m.role === 'user');
      const i = at < 0 ? messages.length : at;
      return [
        [...messages.slice(0, i), { role: 'system', content: recalled.text }, ...messages.slice(i)],
        recalled,
      ];
    }
    const [first, ...rest] = messages;
    const merged: ChatMessage[] =
      first?.role === 'system'
        ? [{ ...first, content: `${first.content}\n\n${recalled.text}` }, ...rest]
        : [{ role: 'system', content: recalled.text }, ...messages];
    return [merged, recalled];
  }

  /** The exchange into the agent's episodes (the new user message and the reply). */
  private remember(
    agent: Readonly<AgentDefinition>,
    session: string,
    messages: ChatMessage[],
    result: GenerationResult,
  ): void {
    const user = [...messages].reverse().find((m) => m.role === 'user');
    const reply = result.text;
    const exchange = [
      ...(user ? [{ role: 'user' as const, content: user.content }] : []),
      { role: 'assistant' as const, content: reply },
    ];
    this.track(
      this.options.memory!.addMessages(agent.name, session, exchange).then(
        (ids) =>
          this.addVectors(
            agent,
            'episode',
            ids,
            exchange.map((m) => m.content),
          ),
        (error: Error) => {
          this.audit.record({
            kind: 'memory',
            subject: `agent:${agent.name}`,
            decision: 'the exchange was not kept in memory',
            reason: error.message,
            inputs: { session, error: error.name },
          });
        },
      ),
    );
  }

  /**
   * Where an agent's memory vectors come from: the engine's embedder, else its own model's
   * mean-pooled hidden states (run by its host between generation steps); none when the agent
   * says `embeddings: false`.
   */
  private embedderFor(agent: Readonly<AgentDefinition>): Embedder | undefined {
    const settings = typeof agent.memory === 'object' ? agent.memory : {};
    if (settings.embeddings === false) return undefined;
    if (this.options.embedder) return this.options.embedder;
    const model = agent.model;
    const slot = this.modelHost.get(model)!;
    return {
      id: `model:${model}`,
      embed: async (texts) => {
        await slot.ready;
        return this.call(slot, (h) => h.embed(model, [...texts]));
      },
      close() {},
    };
  }

  /** Vectors of `texts`, or undefined (and an audit record) when the embedder fails. */
  private async embedQuietly(
    agent: Readonly<AgentDefinition>,
    embedder: Embedder,
    texts: string[],
  ): Promise<Float32Array[] | undefined> {
    try {
      return await embedder.embed(texts);
    } catch (error) {
      this.audit.record({
        kind: 'memory',
        subject: `agent:${agent.name}`,
        decision: 'search and keep memory by its text alone this time',
        reason: `the embedder "${embedder.id}" failed: ${(error as Error).message}`,
        inputs: { texts: texts.length },
      });
      return undefined;
    }
  }

  /** Embeddings of items just written, stored beside them (the text stays searchable if not). */
  private async addVectors(
    agent: Readonly<AgentDefinition>,
    kind: MemoryKind,
    ids: number[],
    texts: string[],
  ): Promise<void> {
    const embedder = this.embedderFor(agent);
    if (!embedder || ids.length === 0) return;
    const vectors = await this.embedQuietly(agent, embedder, texts);
    if (!vectors) return;
    try {
      await Promise.all(
        ids.map((id, i) =>
          this.options.memory!.addEmbedding({
            kind,
            id,
            agent: agent.name,
            model: embedder.id,
            vector: vectors[i],
          }),
        ),
      );
    } catch (error) {
      this.audit.record({
        kind: 'memory',
        subject: `agent:${agent.name}`,
        decision: `no embedding kept for ${kind} ${ids.join(', ')}`,
        reason: (error as Error).message,
        inputs: { kind, ids, error: (error as Error).name },
      });
    }
  }

  /** Memory writes in flight, for settled(). */
  private readonly writes = new Set<Promise<void>>();

  private track(write: Promise<void>): void {
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }

  /** Spans that left agents' windows and await their summary, by agent, in order. */
  private readonly pendingSpans = new Map<string, Extract<KvEvent, { kind: 'window' }>[]>();
  /** Agents whose summarizer is at work. */
  private readonly summarizing = new Set<string>();

  /**
   * A span that left an agent's window, summarized by its summarizer into memory. Spans that
   * leave while a summary is being written wait, and the next summary covers all of them that
   * follow one another (one call for many evictions), so every span is covered exactly once.
   */
  private summarize(agentName: string, e: Extract<KvEvent, { kind: 'window' }>): void {
    const agent = this.agents.get(agentName);
    const settings = typeof agent?.memory === 'object' ? agent.memory : undefined;
    if (!agent || !settings?.summarizer) return;
    const pending = this.pendingSpans.get(agentName) ?? [];
    pending.push(e);
    this.pendingSpans.set(agentName, pending);
    if (!this.summarizing.has(agentName)) this.track(this.drainSummaries(agentName));
  }

  private async drainSummaries(agentName: string): Promise<void> {
    const settings = this.agents.get(agentName)!.memory as {
      summarizer: string;
      summaryTokens?: number;
    };
    const summarizer = settings.summarizer;
    this.summarizing.add(agentName);
    try {
      for (;;) {
        const pending = this.pendingSpans.get(agentName) ?? [];
        if (pending.length === 0) return;
        // The longest run of spans of one session that follow one another, up to about
        // SUMMARY_CHARS of text (the summarizer's prompt must fit its context).
        let n = 1;
        let chars = pending[0].text.length;
        while (
          n < pending.length &&
          pending[n].session === pending[0].session &&
          pending[n].range[0] === pending[n - 1].range[1] &&
          chars + pending[n].text.length <= SUMMARY_CHARS
        ) {
          chars += pending[n].text.length;
          n++;
        }
        const run = pending.splice(0, n);
        const span: [number, number] = [run[0].range[0], run[run.length - 1].range[1]];
        const evictedText = run.map((e) => e.text).join('');
        try {
          const reply = await this.complete(
            {
              agent: summarizer,
              messages: [
                {
                  role: 'user',
                  content: `Summarize this part of a conversation in one or two sentences:\n\n${evictedText}`,
                },
              ],
              max_tokens: settings.summaryTokens ?? 64,
              priority: 'background',
            },
            {},
          );
          const text = reply.choices[0].message.content ?? '';
          const id = await this.options.memory!.addSummary({
            agent: agentName,
            session: run[0].session,
            span,
            text,
            by: summarizer,
          });
          await this.addVectors(this.agents.get(agentName)!, 'summary', [id], [text]);
          this.audit.record({
            kind: 'memory',
            subject: `agent:${agentName}`,
            decision: `summary #${id} of tokens ${span[0]}..${span[1]} (${run.length} eviction(s)) written by "${summarizer}"`,
            reason: 'the span left the KV window; its raw messages stay in the episode store',
            inputs: { span, evictions: run.length, summary: text },
          });
        } catch (error) {
          this.audit.record({
            kind: 'memory',
            subject: `agent:${agentName}`,
            decision: `no summary of tokens ${span[0]}..${span[1]}`,
            reason: `the summarizer failed: ${(error as Error).message}`,
            inputs: { span, summarizer },
          });
        }
      }
    } finally {
      this.summarizing.delete(agentName);
    }
  }

  /**
   * Rates a reply (0 bad .. 1 good; a thumbs up is 1): for a request that `auto` placement
   * decided by what it learned, the rating joins what it learns.
   */
  async rate(requestId: string, quality: number): Promise<void> {
    if (!(quality >= 0 && quality <= 1))
      throw new RequestError('a rating is between 0 and 1', 'quality');
    const placed = this.placements.get(requestId);
    if (!placed || !this.offloader) return;
    await this.offloader.rate(placed.decision, placed.ran, quality);
    this.audit.record({
      kind: 'offload',
      subject: `request:${requestId}`,
      decision: `learn a rating of ${quality} for ${placed.ran}`,
      reason: 'the app rated the reply',
      inputs: { quality, rule: placed.decision.rule },
    });
  }

  /** Waits for memory writes and summaries in flight (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.writes.size > 0) await Promise.all(this.writes);
  }

  private async complete(
    params: ChatCompletionCreateParamsNonStreaming,
    request: RequestOptions,
  ): Promise<ChatCompletion> {
    const {
      id,
      model,
      result,
      recalled,
      usage: cloud,
    } = await this.generate(this.resolve(params), request.signal, () => {});
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

  private async textCompletion(
    params: CompletionCreateParams,
    request: RequestOptions,
  ): Promise<Completion | CompletionStream> {
    checkCompletionParams(params);
    if (this.agents.has(params.model) || (params as { agent?: unknown }).agent !== undefined) {
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
      const { result } = await this.generate(resolved, request.signal, () => {});
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

  private async embed(
    params: EmbeddingCreateParams,
    request: RequestOptions = {},
  ): Promise<CreateEmbeddingResponse> {
    if (this.closed) throw new AgentGpuError('the engine is closed');
    checkEmbeddingParams(params);
    const input = typeof params.input === 'string' ? [params.input] : params.input;
    const embedder = this.options.embedder;
    let vectors: Float32Array[];
    let tokens: number;
    if (embedder && params.model === embedder.id) {
      vectors = await embedder.embed(input);
      tokens = input.reduce((n, t) => n + Math.ceil(t.length / 4), 0);
    } else {
      const slot = this.modelHost.get(params.model);
      if (!slot) {
        throw new ModelNotFoundError(
          `no model "${params.model}" to embed with (models: ${[...this.modelHost.keys()].join(', ')}` +
            `${embedder ? `, ${embedder.id}` : ''})`,
          'model',
        );
      }
      await slot.ready;
      request.signal?.throwIfAborted();
      const [v, counts] = await Promise.all([
        this.call(slot, (h) => h.embed(params.model, [...input])),
        this.call(slot, (h) => h.countTokens(params.model, [...input])),
      ]);
      vectors = v;
      tokens = counts.reduce((a, b) => a + b, 0);
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

  private async stream(
    params: ChatCompletionCreateParamsStreaming,
    request: RequestOptions,
    resolved = this.resolve(params),
  ): Promise<ChatCompletionStream> {
    const controller = new AbortController();
    const signal = request.signal
      ? AbortSignal.any([request.signal, controller.signal])
      : controller.signal;
    const queue: (ChatCompletionChunk | { error: unknown } | null)[] = [];
    let wake: (() => void) | undefined;
    const push = (item: ChatCompletionChunk | { error: unknown } | null) => {
      queue.push(item);
      wake?.();
    };
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
    const running = this.generate(resolved, signal, (t) => {
      if (first) {
        push(chunk({ role: 'assistant', content: '' }));
        first = false;
      }
      if (t.text && !withTools) push(chunk({ content: t.text }));
    });
    void running.then(
      (done) => {
        if (first) push(chunk({ role: 'assistant', content: '' }));
        const calls = toolCalls(id, done.result);
        if (withTools && done.result.content) push(chunk({ content: done.result.content }));
        if (calls) push(chunk({ tool_calls: calls.map((c, index) => ({ index, ...c })) }));
        push(chunk({}, calls ? 'tool_calls' : done.result.finishReason));
        if (params.stream_options?.include_usage) {
          push({ ...chunk({}), choices: [], usage: done.usage ?? usage(done.result) });
        }
        push(null);
      },
      (error) => push({ error }),
    );
    return {
      controller,
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (queue.length > 0) {
            const item = queue.shift()!;
            if (item === null) return;
            if ('error' in item) throw item.error;
            yield item;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      },
    };
  }

  private async snapshot(): Promise<TelemetrySnapshot> {
    const hosts = await Promise.all(
      [...this.hosts.values()].map(async (slot) => {
        const models =
          slot.state === 'ready'
            ? await Promise.race([
                this.call(slot, (h) => h.stats()).catch(() => []),
                new Promise<[]>((resolve) => setTimeout(() => resolve([]), this.pingTimeoutMs)),
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
    return { at: Date.now(), agents: this.telemetry.agentList(), hosts };
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
