import type { Binding, ComputeBatch } from '../gpu/batch.js';
import { workgroupGrid } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import { ELEMENTWISE_WORKGROUP } from './tuning.js';
import { loadVariant, type KernelOptions } from './variant.js';

/** The grid for one invocation per item, `workgroupSize` items per workgroup. */
export function itemGrid(gpu: GpuContext, items: number, workgroupSize: number): [number, number] {
  return workgroupGrid(
    Math.ceil(items / workgroupSize),
    gpu.facts.limits.maxComputeWorkgroupsPerDimension,
  );
}

export type ElementwiseOp = 'silu_mul' | 'gelu_mul' | 'add' | 'add_rows';

/** a (n,), b (n,) -> out (n,); out must not alias a or b. add_rows: b (bLength,), repeated. */
export interface ElementwiseArgs {
  a: Binding;
  b: Binding;
  out: Binding;
  n: number;
  bLength?: number;
}

/**
 * shaders/elementwise.wgsl: silu_mul (SwiGLU gate: silu(a) * b), gelu_mul (GeGLU's), add (residual:
 * a + b) and add_rows (a bias over rows).
 */
export class Elementwise {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
  ) {}

  static async load(
    gpu: GpuContext,
    op: ElementwiseOp,
    options: KernelOptions = {},
  ): Promise<Elementwise> {
    const { key, pipeline } = await loadVariant(gpu, {
      family: op,
      shader: 'elementwise.wgsl',
      entryPoint: op,
      activations: options.activations,
      workgroupSize: ELEMENTWISE_WORKGROUP,
    });
    return new Elementwise(gpu, key, pipeline);
  }

  encode(batch: ComputeBatch, { a, b, out, n, bLength = n }: ElementwiseArgs): void {
    batch.dispatch(
      this.pipeline,
      new Uint32Array([n, bLength, 0, 0]),
      [a, b, out],
      itemGrid(this.gpu, n, ELEMENTWISE_WORKGROUP),
    );
  }
}

/** In place over n values, with one parameter: 'scale' x * value, 'softcap' value * tanh(x / value). */
export type UnaryOp = 'scale' | 'softcap';

export interface UnaryArgs {
  x: Binding;
  n: number;
  value: number;
}

/** shaders/unary.wgsl: Gemma's embedding scale and final logit soft-capping, in place. */
export class Unary {
  private constructor(
    private readonly gpu: GpuContext,
    readonly key: PipelineKey,
    private readonly pipeline: GPUComputePipeline,
  ) {}

  static async load(gpu: GpuContext, op: UnaryOp, options: KernelOptions = {}): Promise<Unary> {
    const { key, pipeline } = await loadVariant(gpu, {
      family: op,
      shader: 'unary.wgsl',
      entryPoint: op,
      activations: options.activations,
      workgroupSize: ELEMENTWISE_WORKGROUP,
    });
    return new Unary(gpu, key, pipeline);
  }

  encode(batch: ComputeBatch, { x, n, value }: UnaryArgs): void {
    const params = new DataView(new ArrayBuffer(16));
    params.setUint32(0, n, true);
    params.setFloat32(4, value, true);
    batch.dispatch(this.pipeline, params, [x], itemGrid(this.gpu, n, ELEMENTWISE_WORKGROUP));
  }
}
