import type { GpuContext } from '../gpu/context.js';
import type { GpuFacts } from '../gpu/facts.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';

/**
 * The pipeline key of a row-reduction kernel (one workgroup per row, reduce.wgsl): subgroup
 * reduction when the device has subgroups, workgroup-memory reduction otherwise.
 * Name: `<family>_f32_<sg|wg>_wg<size>`, e.g. `matvec_f32_sg_wg256`.
 */
export function rowReduceKey(family: string, facts: GpuFacts, workgroupSize: number): PipelineKey {
  const subgroups = facts.features.subgroups;
  return {
    name: `${family}_f32_${subgroups ? 'sg' : 'wg'}_wg${workgroupSize}`,
    shader: `${family}.wgsl`,
    defines: { SUBGROUPS: subgroups },
    overrides: { WG: workgroupSize },
  };
}

/** A compiled row-reduction variant and the grid limit its dispatches are split by. */
export interface RowReducePipeline {
  key: PipelineKey;
  pipeline: GPUComputePipeline;
  maxWorkgroups: number;
}

/** Options every kernel's load() takes. */
export interface KernelOptions {
  /**
   * Workgroups per grid dimension before a dispatch is split over y; defaults to the device
   * limit. Tests lower it to cover the split without dispatching 65536 workgroups on a CPU.
   */
  gridLimit?: number;
}

export async function loadRowReduce(
  gpu: GpuContext,
  family: string,
  workgroupSize: number,
  { gridLimit }: KernelOptions = {},
): Promise<RowReducePipeline> {
  const key = rowReduceKey(family, gpu.facts, workgroupSize);
  const deviceLimit = gpu.facts.limits.maxComputeWorkgroupsPerDimension;
  return {
    key,
    pipeline: await gpu.pipelines.get(key),
    maxWorkgroups: Math.min(gridLimit ?? deviceLimit, deviceLimit),
  };
}
