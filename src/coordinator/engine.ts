import { RequestError } from '../errors.js';
import type {
  ChatCompletion,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionStream,
  Completion,
  CompletionCreateParams,
  CompletionStream,
  CreateEmbeddingResponse,
  EmbeddingCreateParams,
  Model,
  RequestOptions,
} from '../api/openai.js';
import type { Embedder } from '../memory/onnx-embedder.js';
import { Offloader, type OffloadOptions } from '../offload/offloader.js';
import type { SpawnHost } from '../worker/hosts.js';
import type { ModelHostInitOptions, ModelLoadProgress } from '../worker/protocol.js';
import { agentSession, defineAgent, type AgentDefinition } from './agent.js';
import { AgentMemory, type EngineMemory } from './agent-memory.js';
import { OpenAiApi } from './api.js';
import { AuditLog } from './audit.js';
import { HostPool, type ModelSpec, type WindowEviction } from './host-pool.js';
import { admitRequest, PlacementLog, runRequest, type RequestRooms } from './run-request.js';
import { runTaskGraph, type TaskGraph, type TaskGraphResult } from './task-graph.js';
import { Telemetry, type TelemetrySnapshot } from './telemetry.js';

// The coordinator: agents over models in model-host workers, an OpenAI-shaped API, task
// graphs, telemetry, a decision audit log, and self-healing. The engine composes its rooms:
// the host pool (workers, loads, restarts, the watchdog), each request's run (placement,
// local or cloud, fallback), agents' memory, and the OpenAI surface.

export { defineAgent, type AgentDefinition } from './agent.js';
export type { EngineMemory } from './agent-memory.js';
export type { ModelSpec } from './host-pool.js';

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
  /**
   * Requests each model (or agent without limits.queue) may have waiting or running at once
   * before QueueFullError (default 16); `agentgpu serve --queue` sets it.
   */
  queue?: number;
  watchdog?: {
    /** A running request with no token for this long makes the watchdog ping its host. */
    stallMs?: number;
    /** A host that does not answer a ping within this is restarted. */
    pingTimeoutMs?: number;
  };
}

let engines = 0;

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
  private readonly agents = new Map<string, Readonly<AgentDefinition>>();
  /** Which agent keeps each agent session (a window eviction names the session). */
  private readonly sessionAgents = new Map<string, string>();
  private readonly placements = new PlacementLog();
  private readonly pool: HostPool;
  private readonly memory: AgentMemory | undefined;
  private readonly api: OpenAiApi;
  private closed = false;

  private constructor(private readonly options: EngineOptions) {
    const telemetry = new Telemetry();
    this.telemetry = Object.assign(telemetry, { snapshot: () => this.snapshot() });
    const stallMs = options.watchdog?.stallMs ?? 60_000;
    this.pool = new HostPool({
      spawnHost: options.spawnHost,
      hostInit: options.hostInit,
      onProgress: options.onProgress,
      agentsOf: (model) => (options.agents ?? []).filter((a) => a.model === model).length,
      onWindowEviction: (_model, e) => this.windowEvicted(e),
      audit: this.audit,
      telemetry,
      stallMs,
      pingTimeoutMs: options.watchdog?.pingTimeoutMs ?? 5_000,
    });
    this.api = new OpenAiApi({
      pool: this.pool,
      agents: this.agents,
      embedder: options.embedder,
      run: (request, signal, onToken) => runRequest(this.rooms(), request, signal, onToken),
      admit: (request) => admitRequest(this.rooms(), request),
      closed: () => this.closed,
      idPrefix: `agentgpu-${++engines}`,
    });
    this.memory = options.memory && this.agentMemory(options.memory, options.embedder);
    const create = (params: ChatCompletionCreateParams, request: RequestOptions = {}) =>
      this.api.chat(params, request);
    this.chat = { completions: { create: create as Engine['chat']['completions']['create'] } };
    const createCompletion = (params: CompletionCreateParams, request: RequestOptions = {}) =>
      this.api.textCompletion(params, request);
    this.completions = { create: createCompletion as Engine['completions']['create'] };
    this.embeddings = { create: (params, request) => this.api.embed(params, request) };
    this.models = { list: async () => ({ object: 'list', data: this.api.modelList() }) };
    this.debug = {
      terminateHost: (name) => this.pool.terminate(name),
      crashHost: (name, how) => this.pool.crash(name, how),
      hostNames: () => this.pool.hostNames(),
    };
  }

  /** Starts every host worker and loads every model; rejects (all stopped) if one cannot. */
  static async create(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    try {
      if (options.offload) engine.offloader = await Offloader.create(options.offload);
      for (const spec of options.models) engine.pool.place(spec);
      for (const agent of options.agents ?? []) engine.addAgent(agent);
      await engine.pool.ready();
      return engine;
    } catch (error) {
      await engine.close();
      throw error;
    }
  }

  /** Adds an agent (defineAgent's checks apply) over one of the engine's models. */
  addAgent(definition: AgentDefinition): void {
    const agent = defineAgent(definition);
    const slot = this.pool.slotOf(agent.model);
    if (!slot) {
      throw new RequestError(
        `agent "${agent.name}" names model "${agent.model}", which this engine does not host ` +
          `(models: ${this.pool.models().join(', ')})`,
        'model',
      );
    }
    if (this.agents.has(agent.name) || this.pool.slotOf(agent.name)) {
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
    this.sessionAgents.set(agentSession(agent), agent.name);
    this.telemetry.agent(agent.name, agent.model);
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
    await this.memory?.settled();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  private rooms(): RequestRooms {
    const { pool, audit, telemetry, offloader, memory, placements } = this;
    const queue = this.options.queue ?? 16;
    return { pool, audit, telemetry, offloader, memory, placements, queue };
  }

  /** Agents' memory over the engine's store, its models counting tokens and summarizing. */
  private agentMemory(store: EngineMemory, embedder: Embedder | undefined): AgentMemory {
    const pool = this.pool;
    return new AgentMemory({
      store,
      embedder,
      modelEmbedder: (model) => {
        const slot = pool.slotOf(model)!;
        return {
          id: `model:${model}`,
          embed: async (texts) => {
            await slot.ready;
            return pool.call(slot, (h) => h.embed(model, [...texts]));
          },
          close() {},
        };
      },
      countTokens: (model, texts) =>
        pool.call(pool.slotOf(model)!, (h) => h.countTokens(model, texts)),
      complete: async (summarizer, prompt, maxTokens) => {
        const reply = await this.api.complete(
          {
            agent: summarizer,
            messages: [{ role: 'user', content: prompt }],
            max_tokens: maxTokens,
            priority: 'background',
          },
          {},
        );
        return reply.choices[0].message.content ?? '';
      },
      agent: (name) => this.agents.get(name),
      audit: this.audit,
    });
  }

  /** A span left an agent's window: its memory summarizes it (when it has a summarizer). */
  private windowEvicted(e: WindowEviction): void {
    const agent = this.sessionAgents.get(e.session);
    if (agent) this.memory?.evicted(agent, e);
  }

  private async snapshot(): Promise<TelemetrySnapshot> {
    const hosts = await this.pool.snapshot();
    return { at: Date.now(), agents: this.telemetry.agentList(), hosts };
  }
}
