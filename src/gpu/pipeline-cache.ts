import { ShaderError } from '../errors.js';
import { preprocessWgsl, type ShaderDefines } from './shader-preprocess.js';
import type { ShaderSource } from './shader-library.js';

/**
 * One compiled variant of a shader family. `name` is the readable variant id and the cache key
 * (`matvec_f32_sg_wg256`): two keys with the same name must build the same pipeline.
 */
export interface PipelineKey {
  name: string;
  /** File under shaders/, e.g. "matvec.wgsl". */
  shader: string;
  defines: ShaderDefines;
  /** WGSL `override` constants (workgroup sizes). */
  overrides?: Readonly<Record<string, number>>;
  entryPoint?: string;
}

export class PipelineCache {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();

  constructor(
    private readonly device: GPUDevice,
    private readonly source: ShaderSource,
    /** createComputePipelineAsync, which lets browsers compile off the main thread. */
    private readonly asyncCompile = true,
  ) {}

  get size(): number {
    return this.pipelines.size;
  }

  /** The names of the variants built or being built: which kernels a model chose. */
  names(): string[] {
    return [...this.pipelines.keys()];
  }

  get(key: PipelineKey): Promise<GPUComputePipeline> {
    let pipeline = this.pipelines.get(key.name);
    if (!pipeline) {
      pipeline = this.build(key);
      // A failed build is not cached: the next call reports the error again.
      pipeline.catch(() => this.pipelines.delete(key.name));
      this.pipelines.set(key.name, pipeline);
    }
    return pipeline;
  }

  /** The WGSL text a key compiles, after the define/include pass. */
  wgsl(key: PipelineKey): string {
    return preprocessWgsl(key.shader, this.source, key.defines);
  }

  private async build(key: PipelineKey): Promise<GPUComputePipeline> {
    const code = this.wgsl(key);
    const module = this.device.createShaderModule({ label: key.name, code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0) {
      const lines = code.split('\n');
      const detail = errors
        .map((m) => `  line ${m.lineNum}: ${m.message}\n    ${lines[m.lineNum - 1]?.trim() ?? ''}`)
        .join('\n');
      throw new ShaderError(
        `shader variant ${key.name} (${key.shader}) does not compile:\n${detail}`,
      );
    }
    const descriptor: GPUComputePipelineDescriptor = {
      label: key.name,
      layout: 'auto',
      compute: { module, entryPoint: key.entryPoint ?? 'main', constants: key.overrides },
    };
    this.device.pushErrorScope('validation');
    let pipeline: GPUComputePipeline | undefined;
    let failure: unknown;
    try {
      pipeline = this.asyncCompile
        ? await this.device.createComputePipelineAsync(descriptor)
        : this.device.createComputePipeline(descriptor);
    } catch (cause) {
      failure = cause;
    }
    const error = await this.device.popErrorScope();
    if (failure !== undefined || error || !pipeline) {
      const why = error?.message ?? String(failure);
      throw new ShaderError(`pipeline ${key.name} could not be created: ${why}`, {
        cause: failure,
      });
    }
    return pipeline;
  }
}
