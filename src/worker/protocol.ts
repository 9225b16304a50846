// Wire types between an app and the model-host worker (comlink). Everything here is plain,
// structured-cloneable data; errors keep their class through worker/transfer.ts.
import type { GpuFacts } from '../gpu/facts.js';
import type { GpuContextOptions } from '../gpu/context.js';
import type { KernelCase, KernelCheckResult } from '../kernels/checks/index.js';
import type { KernelOptions } from '../kernels/variant.js';
import type { ChatMessage } from '../model/chat/index.js';
import type { ModelConfig } from '../model/config.js';
import type {
  GeneratedToken,
  GenerateOptions,
  GenerationResult,
  KvEvent,
  ScheduleOptions,
  SchedulerStats,
} from '../model/language-model.js';
import type { KvCacheStats, SlidingWindow } from '../kv/paged-kv-cache.js';
import type { KvFormat } from '../kernels/attention.js';
import type { KvFullPolicy } from '../kv/paged-kv-cache.js';
import type { MemoryPlan } from '../model/memory-plan.js';
import type { ModelLoadProgress } from '../model/loader/source.js';

export type { GpuFacts, KernelCase, KernelCheckResult, KernelOptions };
export type { ChatMessage, GeneratedToken, GenerationResult, ModelConfig, ModelLoadProgress };

/**
 * Generation options that cross the boundary: an AbortSignal cannot, so a generation has a
 * `requestId` that cancel() takes. `model` names a loaded model (default: the only one).
 */
export type WorkerGenerateOptions = Omit<GenerateOptions, 'signal'> &
  ScheduleOptions & { model?: string; requestId?: string };

export interface LoadModelOptions {
  /** The name generate() uses for this model (default 'default'); loading it again replaces it. */
  id?: string;
  /** Cache capacity in tokens (default: the model's context length, at most 4096). */
  contextSize?: number;
  /** Tokens per forward pass (default 256). */
  maxBatch?: number;
  /** Conversations (sessions) the KV cache holds at once (default 1). */
  sequences?: number;
  window?: SlidingWindow;
  kv?: KvFormat;
  kvBudget?: number;
  whenFull?: KvFullPolicy;
  /** A URL's chunks in Cache Storage (default true), so the second load is local. */
  cache?: boolean;
  /** A Jinja chat template in place of the GGUF's (tokenizer_config.json's chat_template). */
  chatTemplate?: string;
}

/** One loaded model as telemetry sees it. */
export interface HostedModelStats {
  id: string;
  scheduler: SchedulerStats;
  kv: KvCacheStats;
  /** GPU buffers the model holds: weights, KV cache, activations. */
  gpuBytes: number;
  /** What those bytes are, and what limited the KV cache. */
  memory: MemoryPlan;
}

export interface ModelHostInitOptions {
  features?: GpuContextOptions['features'];
  powerPreference?: GPUPowerPreference;
}

/** What the model-host worker serves. One GPUDevice per worker. */
export interface ModelHostApi {
  /** Acquires the worker's GPUDevice (again, after a loss) and returns its facts. */
  init(options?: ModelHostInitOptions): Promise<GpuFacts>;
  /** One matvec against the CPU reference: the quick "does this GPU compute right" check. */
  selfCheck(): Promise<KernelCheckResult>;
  /**
   * Kernel checks against their CPU references; all of kernelCases() when none are given,
   * with f32 activations unless asked for f16 (which needs the adapter's shader-f16).
   */
  runKernelChecks(cases?: KernelCase[], options?: KernelOptions): Promise<KernelCheckResult[]>;
  /**
   * Loads a GGUF model (a URL fetched with Range requests and cached, a File/Blob, or bytes,
   * transferred) in place of any loaded one, posting LoadProgressMessages as it goes. Returns its
   * configuration. A relative URL resolves against the worker's script: resolve it against the
   * page first (the engine does).
   */
  loadModel(source: string | Blob | Uint8Array, options?: LoadModelOptions): Promise<ModelConfig>;
  /** One generation, whole. Generations of different sessions on one model run batched. */
  generate(
    input: string | ChatMessage[],
    options?: WorkerGenerateOptions,
  ): Promise<GenerationResult>;
  /**
   * One generation whose tokens stream as TokensMessages on the worker's own port (before the
   * call's reply, in order), tagged with `options.requestId`, which it needs.
   */
  stream(input: string | ChatMessage[], options: WorkerGenerateOptions): Promise<GenerationResult>;
  /** Ends a running or waiting generation: it rejects with an AbortError, its KV freed. */
  cancel(requestId: string): Promise<void>;
  /** Forgets a session's conversation and frees its KV sequence. */
  closeSession(model: string, session: string): Promise<void>;
  /** Every loaded model's scheduler, KV cache and GPU bytes. */
  stats(): Promise<HostedModelStats[]>;
  /** Tokens each text takes in a model's tokenizer (prompt budgets). */
  countTokens(model: string, texts: string[]): Promise<number[]>;
  /** Mean-pooled, normalized sentence embeddings of `texts` from a model's hidden states. */
  embed(model: string, texts: string[]): Promise<Float32Array[]>;
  /** Answers at once: the coordinator's watchdog asks when a step seems stuck. */
  ping(): Promise<number>;
  /**
   * Fails on purpose, for tests of self-healing: 'exit' ends the worker as a crash would (an
   * uncaught error in a page's worker, the thread's exit in Node), 'device' destroys its
   * GPUDevice so the device-lost path runs, 'hang' stops answering anything (a busy loop).
   */
  crash(how: 'exit' | 'device' | 'hang'): Promise<void>;
  /** Unloads one model, or every one. */
  unloadModel(id?: string): Promise<void>;
  /** Destroys the device; the next call must be init(). */
  dispose(): Promise<void>;
}

/** Posted on the worker's own port when its device is lost (outside any call). */
export interface DeviceLostMessage {
  type: 'agentgpu:devicelost';
  reason: string;
  message: string;
}

/** Posted on the worker's own port as a streamed generation's tokens come. */
export interface TokensMessage {
  type: 'agentgpu:tokens';
  requestId: string;
  tokens: GeneratedToken[];
}

/** Posted when tokens leave a model's KV cache (window, idle eviction, session reclaimed). */
export interface KvEventMessage {
  type: 'agentgpu:kv';
  model: string;
  event: KvEvent;
}

/** Posted as a model loads: bytes downloaded or read from the cache, uploaded, kernels built. */
export interface LoadProgressMessage {
  type: 'agentgpu:progress';
  progress: ModelLoadProgress;
}

/** What a host posts outside its calls' replies. */
export type HostMessage = DeviceLostMessage | TokensMessage | KvEventMessage | LoadProgressMessage;

/** Every HostMessage type, checked against the union both ways. */
export const HOST_MESSAGE_TYPES = [
  'agentgpu:devicelost',
  'agentgpu:tokens',
  'agentgpu:kv',
  'agentgpu:progress',
] as const satisfies readonly HostMessage['type'][];
// A message type added to the union and not to the list fails here.
const everyHostMessageListed: HostMessage['type'] extends (typeof HOST_MESSAGE_TYPES)[number]
  ? true
  : never = true;
void everyHostMessageListed;
