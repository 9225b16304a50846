import { acquireBrowserGpu } from '../gpu/acquire.js';
import type { GpuContext } from '../gpu/context.js';
import { checkMatvec, kernelCases, runKernelChecks, type KernelCase } from '../kernels/checks.js';
import { AgentGpuError } from '../errors.js';
import type { KernelOptions } from '../kernels/variant.js';
import { LanguageModel } from '../model/language-model.js';
import { openModelSource } from '../model/loader/open.js';
import type {
  ChatMessage,
  DeviceLostMessage,
  LoadModelOptions,
  ModelHostApi,
  ModelHostInitOptions,
  WorkerGenerateOptions,
} from './protocol.js';

/** The model-host worker's implementation of ModelHostApi, over one GpuContext. */
export class ModelHost implements ModelHostApi {
  private gpu: GpuContext | undefined;
  private model: LanguageModel | undefined;

  constructor(private readonly post: (message: DeviceLostMessage) => void) {}

  async init(options: ModelHostInitOptions = {}) {
    this.gpu?.destroy();
    const gpu = await acquireBrowserGpu(options);
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
    await this.unloadModel();
    const bytes = await openModelSource(source, options.cache === false ? { cache: false } : {});
    try {
      this.model = await LanguageModel.load(gpu, bytes, options);
    } finally {
      await bytes.close();
    }
    return this.model.config;
  }

  generate(input: string | ChatMessage[], options: WorkerGenerateOptions = {}) {
    if (!this.model) throw new AgentGpuError('no model is loaded: call loadModel() first');
    return this.model.generate(input, options).result;
  }

  async unloadModel() {
    this.model?.destroy();
    this.model = undefined;
  }

  async dispose() {
    await this.unloadModel();
    this.gpu?.destroy();
    this.gpu = undefined;
  }

  private context(): GpuContext {
    if (!this.gpu) throw new AgentGpuError('the model host has no GPU yet: call init() first');
    this.gpu.assertAlive();
    return this.gpu;
  }
}
