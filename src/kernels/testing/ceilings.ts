import type { Binding, ComputeBatch } from '../../gpu/batch.js';
import type { GpuContext } from '../../gpu/context.js';
import { packParams } from '../../gpu/params.js';
import { pipelineKey } from '../variant.js';
import { COPY_WORKGROUP, COPY_WORKGROUPS } from '../tuning.js';

// The yardsticks bench/kernels.ts measures kernels against, on the same adapter in the same run.

/** shaders/copy.wgsl: src (bytes,) -> dst (bytes,), bytes a multiple of 16. The bandwidth yardstick. */
export class Copy {
  private constructor(private readonly pipeline: GPUComputePipeline) {}

  static async load(gpu: GpuContext): Promise<Copy> {
    const key = pipelineKey(gpu.facts, { family: 'copy', workgroupSize: COPY_WORKGROUP });
    return new Copy(await gpu.pipelines.get(key));
  }

  encode(batch: ComputeBatch, src: Binding, dst: Binding, bytes: number): void {
    if (bytes % 16 !== 0)
      throw new RangeError(`copy takes whole 16-byte vectors, got ${bytes} bytes`);
    const n = bytes / 16;
    const workgroups = Math.max(1, Math.min(COPY_WORKGROUPS, Math.ceil(n / COPY_WORKGROUP)));
    batch.dispatch(
      this.pipeline,
      new Uint32Array([n, workgroups * COPY_WORKGROUP, 0, 0]),
      [src, dst],
      [workgroups],
    );
  }
}

/** FLOPs per invocation per iteration of flops.wgsl: 4 chains of vec4 fma, 2 FLOPs per lane. */
const FLOPS_PER_ITERATION = 4 * 4 * 2;

/** shaders/flops.wgsl: the arithmetic ceiling, in FLOPs per dispatch. */
export class PeakFlops {
  private constructor(private readonly pipeline: GPUComputePipeline) {}

  static async load(gpu: GpuContext): Promise<PeakFlops> {
    const key = pipelineKey(gpu.facts, { family: 'flops', workgroupSize: COPY_WORKGROUP });
    return new PeakFlops(await gpu.pipelines.get(key));
  }

  /** Records `workgroups` x 256 invocations of `iterations` steps; returns the FLOPs done. */
  encode(batch: ComputeBatch, out: Binding, workgroups: number, iterations: number): number {
    const params = packParams([{ u32: iterations }, { f32: 0.5 }]);
    batch.dispatch(this.pipeline, params, [out], [workgroups]);
    return workgroups * COPY_WORKGROUP * iterations * FLOPS_PER_ITERATION;
  }
}
