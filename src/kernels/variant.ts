import { ShaderError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import type { GpuFacts } from '../gpu/facts.js';
import type { PipelineKey } from '../gpu/pipeline-cache.js';
import type { ShaderDefines } from '../gpu/shader-preprocess.js';
import { quantFormats, type QuantName } from '../quant/index.js';

/**
 * How activations (inputs, outputs, K/V) are stored: f32, or f16 where the adapter has
 * shader-f16 (half the traffic). Arithmetic and accumulation stay f32 either way.
 */
export type Activations = 'f32' | 'f16';

/** Options every kernel's load() takes. */
export interface KernelOptions {
  /** Activation storage (default f32); f16 needs the adapter's shader-f16. */
  activations?: Activations;
  /**
   * Workgroups per grid dimension before a dispatch is split over y; defaults to the device
   * limit. Tests lower it to cover the split without dispatching 65536 workgroups on a CPU.
   */
  gridLimit?: number;
}

/** What one pipeline variant is made of; pipelineKey() turns it into a name and defines. */
export interface VariantSpec {
  family: string;
  /** Default `<family>.wgsl`. */
  shader?: string;
  entryPoint?: string;
  /** The weight format, for kernels that read weights (include/weights.wgsl). */
  weights?: QuantName;
  activations?: Activations;
  /** The reduction path: subgroup operations or workgroup memory; absent when none. */
  subgroups?: boolean;
  workgroupSize?: number;
  /** More of the variant's shape in its name, e.g. `m1_r32` (batch 1, 32 invocations a row). */
  shape?: string;
  defines?: ShaderDefines;
  overrides?: Readonly<Record<string, number>>;
}

/**
 * The pipeline key of one variant, named
 * `<family>[_<weights>]_<f32|f16>[_<shape>][_<sg|wg>][_wg<size>]`, e.g.
 * `matvec_q4_k_f16_m1_r32_sg_wg256`. Two specs with the same name build the same pipeline.
 */
export function pipelineKey(facts: GpuFacts, spec: VariantSpec): PipelineKey {
  const activations = spec.activations ?? 'f32';
  if (activations === 'f16' && !facts.features.shaderF16) {
    throw new ShaderError(
      `${spec.family}: f16 activations need the adapter's shader-f16 feature, which ` +
        `${facts.vendor} ${facts.architecture} lacks: use activations 'f32'`,
    );
  }
  const kvF16 = spec.defines?.KV_F16 === true;
  if (kvF16 && !facts.features.shaderF16) {
    throw new ShaderError(
      `${spec.family}: an f16 KV cache needs the adapter's shader-f16 feature, which ` +
        `${facts.vendor} ${facts.architecture} lacks: use kv 'f32' or 'int8'`,
    );
  }
  const stageF16 = spec.defines?.STAGE_F16 === true;
  if (stageF16 && !facts.features.shaderF16) {
    throw new ShaderError(
      `${spec.family}: f16 tiles need the adapter's shader-f16 feature, which ` +
        `${facts.vendor} ${facts.architecture} lacks: leave stageF16 off`,
    );
  }
  if (spec.defines?.INT_DOT === true && !facts.features.packedIntegerDot) {
    throw new ShaderError(
      `${spec.family}: integer products need WGSL's packed_4x8_integer_dot_product, which ` +
        `${facts.vendor} ${facts.architecture} lacks: leave integerDot off`,
    );
  }
  const parts = [spec.family];
  if (spec.weights) parts.push(spec.weights.toLowerCase());
  parts.push(activations);
  if (spec.shape) parts.push(spec.shape);
  if (spec.subgroups !== undefined) parts.push(spec.subgroups ? 'sg' : 'wg');
  if (spec.workgroupSize) parts.push(`wg${spec.workgroupSize}`);
  return {
    name: parts.join('_'),
    shader: spec.shader ?? `${spec.family}.wgsl`,
    entryPoint: spec.entryPoint,
    defines: {
      ...(spec.weights ? weightDefines(spec.weights) : {}),
      ...spec.defines,
      SUBGROUPS: spec.subgroups ?? false,
      ACT_F16: activations === 'f16',
      ENABLE_F16: activations === 'f16' || kvF16 || stageF16,
    },
    overrides: {
      ...spec.overrides,
      ...(spec.workgroupSize ? { WG: spec.workgroupSize } : {}),
    },
  };
}

/** The defines of include/weights.wgsl for weights in `format`: its name true, the rest false. */
export function weightDefines(format: QuantName): ShaderDefines {
  const defines: Record<string, boolean> = {};
  for (const name of Object.keys(quantFormats)) defines[name] = name === format;
  defines.DENSE = quantFormats[format].blockValues === 1;
  // The integer products' decode (unit_ints) and the weights bound as vec4s: off unless the
  // kernel asks for them.
  defines.INT_DOT = false;
  defines.W_VEC4 = false;
  return defines;
}

/** A compiled variant and the grid limit its dispatches are split by. */
export interface LoadedVariant {
  key: PipelineKey;
  pipeline: GPUComputePipeline;
  maxWorkgroups: number;
}

/** Compiles (or finds cached) the variant; reduction kernels default to the device's path. */
export async function loadVariant(
  gpu: GpuContext,
  spec: VariantSpec,
  { gridLimit }: KernelOptions = {},
): Promise<LoadedVariant> {
  const key = pipelineKey(gpu.facts, spec);
  const deviceLimit = gpu.facts.limits.maxComputeWorkgroupsPerDimension;
  return {
    key,
    pipeline: await gpu.pipelines.get(key),
    maxWorkgroups: Math.min(gridLimit ?? deviceLimit, deviceLimit),
  };
}
