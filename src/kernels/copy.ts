import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { COPY_WORKGROUP, COPY_WORKGROUPS } from './tuning.js';

/** shaders/copy.wgsl: src (bytes,) -> dst (bytes,), bytes a multiple of 16. The bandwidth yardstick. */
export class Copy {
  private constructor(private readonly pipeline: GPUComputePipeline) {}

  static async load(gpu: GpuContext): Promise<Copy> {
    const subgroups = gpu.facts.features.subgroups;
    return new Copy(
      await gpu.pipelines.get({
        name: `copy_u32x4_${subgroups ? 'sg' : 'wg'}_wg${COPY_WORKGROUP}`,
        shader: 'copy.wgsl',
        defines: { SUBGROUPS: subgroups },
        overrides: { WG: COPY_WORKGROUP },
      }),
    );
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
