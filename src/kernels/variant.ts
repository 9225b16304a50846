import type { GpuContext } from '../gpu/context.js';
import type { GpuFacts } from '../gpu/facts.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import type { ShaderDefines } from '../gpu/shader-preprocess.js';
import { quantFormats, type QuantName } from '../model/quant/index.js';

/** What sets one variant of a family apart, beyond the reduction path and workgroup size. */
export interface VariantSpec {
  /** The variant's types and shape in its name, e.g. `q4_k_f32_m1` (weights, activations, M). */
  tag: string;
  defines?: ShaderDefines;
  overrides?: Readonly<Record<string, number>>;
  /** After the reduction path in the name, e.g. `_r32` for 32 invocations per row. */
  suffix?: string;
}

/**
 * The pipeline key of a row-reduction kernel (one workgroup per row, reduce.wgsl): subgroup
 * reduction when the device has subgroups, workgroup-memory reduction otherwise.
 * Name: `<family>_<tag>_<sg|wg><suffix>_wg<size>`, e.g. `matvec_q4_k_f32_m1_sg_r32_wg256`.
 */
export function rowReduceKey(
  family: string,
  facts: GpuFacts,
  workgroupSize: number,
  spec: VariantSpec = { tag: 'f32' },
  subgroups = facts.features.subgroups,
): PipelineKey {
  return {
    name: `${family}_${spec.tag}_${subgroups ? 'sg' : 'wg'}${spec.suffix ?? ''}_wg${workgroupSize}`,
    shader: `${family}.wgsl`,
    defines: { ...spec.defines, SUBGROUPS: subgroups },
    overrides: { ...spec.overrides, WG: workgroupSize },
  };
}

/** The defines of include/weights.wgsl for weights in `format`: its name true, the rest false. */
export function weightDefines(format: QuantName): ShaderDefines {
  const defines: Record<string, boolean> = {};
  for (const name of Object.keys(quantFormats)) defines[name] = name === format;
  defines.DENSE = quantFormats[format].blockValues === 1;
  return defines;
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
  spec?: VariantSpec,
  subgroups?: boolean,
): Promise<RowReducePipeline> {
  const key = rowReduceKey(family, gpu.facts, workgroupSize, spec, subgroups);
  const deviceLimit = gpu.facts.limits.maxComputeWorkgroupsPerDimension;
  return {
    key,
    pipeline: await gpu.pipelines.get(key),
    maxWorkgroups: Math.min(gridLimit ?? deviceLimit, deviceLimit),
  };
}
