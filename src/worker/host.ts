import * as Comlink from 'comlink';
import { acquireBrowserGpu } from '../gpu/acquire.js';
import type { GpuContext, GpuContextOptions } from '../gpu/context.js';
import {
  checkMatvec,
  kernelCases,
  runKernelChecks,
  type KernelCase,
} from '../kernels/checks/index.js';
import { AgentGpuError } from '../errors.js';
import type { KernelOptions } from '../kernels/variant.js';
import { LanguageModel, type GeneratedToken } from '../model/language-model.js';
import { openModelSource, type ModelInput } from '../model/loader/open.js';
import type { LoadProgress, ModelSource } from '../model/loader/source.js';
import { formatBytes } from '../gpu/facts.js';
import type {
  ChatMessage,
  HostMessage,
  HostedModelStats,
  LoadModelOptions,
  ModelHostApi,
  ModelHostInitOptions,
  ModelLoadProgress,
  WorkerGenerateOptions,
} from './protocol.js';

const PHASE_WORDS: Record<ModelLoadProgress['phase'], string> = {
  download: 'downloading',
  cache: 'reading from the cache',
  upload: 'uploading weights',
  compile: 'compiling kernels',
};

/** "small: downloading 12.0 MiB of 40.0 MiB"; kernels are counted, not sized. */
function progressText(
  model: string,
  phase: ModelLoadProgress['phase'],
  loaded: number,
  total: number,
): string {
  const amount =
    phase === 'compile'
      ? `${loaded} of ${total}`
      : `${formatBytes(loaded)} of ${formatBytes(total)}`;
  return `${model}: ${PHASE_WORDS[phase]} ${amount}`;
}

/** How a host gets its device and its model bytes: a browser's, or Node's (Dawn, paths). */
export interface HostEnvironment {
  acquireGpu(options: GpuContextOptions): Promise<GpuContext>;
  openSource(
    input: ModelInput,
    options: { cache?: boolean; onProgress?: (progress: LoadProgress) => void },
  ): Promise<ModelSource>;
  /** Ends the worker as a crash would. */
  crash(): void;
}

export const browserEnvironment: HostEnvironment = {
  acquireGpu: (options) => acquireBrowserGpu(options),
  openSource: (input, { cache, onProgress }) =>
    openModelSource(input, cache === false ? { cache: false, onProgress } : { onProgress }),
  crash: () => {
    // An uncaught error reaches the page as the Worker's 'error' event.
    setTimeout(() => {
      throw new Error('agentgpu model host: crash() was called');
    });
  },
};

/**
 * The model-host worker's implementation of ModelHostApi: one GpuContext, any number of
 * models by id, each serving sessions whose generations run batched.
 */
export class ModelHost implements ModelHostApi {
  private gpu: GpuContext | undefined;
  private readonly models = new Map<string, LanguageModel>();
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly post: (message: HostMessage) => void,
    private readonly env: HostEnvironment = browserEnvironment,
  ) {}

  async init(options: ModelHostInitOptions = {}) {
    await this.unloadModel();
    this.gpu?.destroy();
    const gpu = await this.env.acquireGpu(options);
    gpu.addEventListener('devicelost', (event) => {
      const { reason, message } = event as unknown as { reason: string; message: string };
      this.post({ type: 'agentgpu:devicelost', reason, message });
    });
    this.gpu = gpu;
    return gpu.facts;
  }

  selfCheck() {
    return checkMatvec(this.context(), 256, 1024, 42);
  }

  runKernelChecks(cases: KernelCase[] = kernelCases(), options: KernelOptions = {}) {
    return runKernelChecks(this.context(), cases, options);
  }

  async loadModel(source: string | Blob | Uint8Array, options: LoadModelOptions = {}) {
    const gpu = this.context();
    const id = options.id ?? 'default';
    await this.unloadModel(id);
    const progress = (phase: ModelLoadProgress['phase'], loaded: number, total: number) =>
      this.post({
        type: 'agentgpu:progress',
        progress: { model: id, phase, loaded, total, text: progressText(id, phase, loaded, total) },
      });
    const bytes = await this.env.openSource(source, {
      cache: options.cache,
      onProgress: (p) => progress(p.from === 'cache' ? 'cache' : 'download', p.loaded, p.total),
    });
    try {
      const model = await LanguageModel.load(gpu, bytes, {
        ...options,
        onKvEvent: (event) => this.post({ type: 'agentgpu:kv', model: id, event }),
        onLoadProgress: (p) => progress(p.phase, p.loaded, p.total),
      });
      this.models.set(id, model);
      return model.config;
    } finally {
      await bytes.close();
    }
  }

  generate(input: string | ChatMessage[], options: WorkerGenerateOptions = {}) {
    return this.run(input, options, () => {});
  }

  stream(input: string | ChatMessage[], options: WorkerGenerateOptions) {
    const requestId = options.requestId;
    if (requestId === undefined) throw new RangeError('a streamed generation needs a requestId');
    return this.run(input, options, (token) =>
      this.post({ type: 'agentgpu:tokens', requestId, tokens: [token] }),
    );
  }

  private async run(
    input: string | ChatMessage[],
    { model: id, requestId, ...options }: WorkerGenerateOptions,
    onToken: (token: GeneratedToken) => void,
  ) {
    const model = this.model(id);
    const controller = new AbortController();
    if (requestId !== undefined) {
      if (this.running.has(requestId)) {
        throw new RangeError(`request id "${requestId}" is already running: ids must be unique`);
      }
      this.running.set(requestId, controller);
    }
    try {
      const generation = model.generate(input, { ...options, signal: controller.signal });
      for await (const token of generation) onToken(token);
      return await generation.result;
    } finally {
      if (requestId !== undefined) this.running.delete(requestId);
    }
  }

  async cancel(requestId: string) {
    const reason = new DOMException(`request ${requestId} was cancelled`, 'AbortError');
    this.running.get(requestId)?.abort(reason);
  }

  async closeSession(model: string, session: string) {
    this.model(model).closeSession(session);
  }

  async stats(): Promise<HostedModelStats[]> {
    return [...this.models].map(([id, model]) => ({
      id,
      scheduler: model.stats(),
      kv: model.decoder.kvStats(),
      gpuBytes: model.decoder.memory.total,
      memory: model.decoder.memory,
    }));
  }

  async countTokens(model: string, texts: string[]) {
    const m = this.model(model);
    return texts.map((t) => m.tokenizer.encode(t, { addSpecial: false }).length);
  }

  /** Mean-pooled sentence embeddings of `texts` from a loaded model (memory's fallback). */
  async embed(model: string, texts: string[]): Promise<Float32Array[]> {
    const vectors = await this.model(model).embed(texts);
    return Comlink.transfer(
      vectors,
      vectors.map((v) => v.buffer as ArrayBuffer),
    );
  }

  async ping() {
    return Date.now();
  }

  async crash(how: 'exit' | 'device' | 'hang') {
    if (how === 'device') this.context().device.destroy();
    else if (how === 'exit') this.env.crash();
    else {
      // After this reply: a worker stuck in a loop, as a runaway step would leave it.
      setTimeout(() => {
        for (;;);
      });
    }
  }

  async unloadModel(id?: string) {
    for (const [name, model] of this.models) {
      if (id !== undefined && name !== id) continue;
      model.destroy();
      this.models.delete(name);
    }
  }

  async dispose() {
    await this.unloadModel();
    this.gpu?.destroy();
    this.gpu = undefined;
  }

  private model(id: string | undefined): LanguageModel {
    if (id === undefined && this.models.size === 1) return [...this.models.values()][0];
    const model = this.models.get(id ?? 'default');
    if (!model) {
      const loaded = [...this.models.keys()];
      throw new AgentGpuError(
        loaded.length === 0
          ? 'no model is loaded: call loadModel() first'
          : `no model "${id ?? 'default'}" is loaded here (loaded: ${loaded.join(', ')})`,
      );
    }
    return model;
  }

  private context(): GpuContext {
    if (!this.gpu) throw new AgentGpuError('the model host has no GPU yet: call init() first');
    this.gpu.assertAlive();
    return this.gpu;
  }
}
