// Wire types between an app and the model-host worker (comlink). Everything here is plain,
// structured-cloneable data; errors keep their class through worker/transfer.ts.
import type { GpuFacts } from '../gpu/facts.js';
import type { GpuContextOptions } from '../gpu/context.js';
import type { KernelCase, KernelCheckResult } from '../kernels/checks.js';
import type { KernelOptions } from '../kernels/variant.js';
import type { ChatMessage } from '../model/chat/index.js';
import type { ModelConfig } from '../model/config.js';
import type { GenerateOptions, GenerationResult } from '../model/language-model.js';

export type { GpuFacts, KernelCase, KernelCheckResult, KernelOptions };
export type { ChatMessage, GenerationResult, ModelConfig };

/** Generation options that cross the boundary (an AbortSignal cannot). */
export type WorkerGenerateOptions = Omit<GenerateOptions, 'signal'>;

export interface LoadModelOptions {
  /** Cache capacity in tokens (default: the model's context length, at most 4096). */
  contextSize?: number;
  /** Tokens per forward pass (default 256). */
  maxBatch?: number;
  /** A URL's chunks in Cache Storage (default true), so the second load is local. */
  cache?: boolean;
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
   * transferred) in place of any loaded one. Returns its configuration.
   */
  loadModel(source: string | Blob | Uint8Array, options?: LoadModelOptions): Promise<ModelConfig>;
  /** One generation with the loaded model, whole (streaming comes with the coordinator). */
  generate(
    input: string | ChatMessage[],
    options?: WorkerGenerateOptions,
  ): Promise<GenerationResult>;
  unloadModel(): Promise<void>;
  /** Destroys the device; the next call must be init(). */
  dispose(): Promise<void>;
}

/** Posted on the worker's own port when its device is lost (outside any call). */
export interface DeviceLostMessage {
  type: 'agentgpu:devicelost';
  reason: string;
  message: string;
}
