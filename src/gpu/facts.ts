/** Plain, cloneable facts about the adapter and the device agentgpu made from it. */
export interface GpuFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /**
   * True for CPU implementations (SwiftShader): correct, but ~1 GB/s. Kernels are chosen by it
   * (tuning.ts); GpuContextOptions.tuneFor sets it.
   */
  software: boolean;
  features: {
    /** `shader-f16`: f16 arithmetic and storage in WGSL. */
    shaderF16: boolean;
    /** `subgroups`: subgroupAdd and friends for reductions. */
    subgroups: boolean;
    /**
     * WGSL's `packed_4x8_integer_dot_product` language feature: dot4I8Packed, four 8-bit
     * products and their sum in one operation (DP4a where the hardware has it).
     */
    packedIntegerDot: boolean;
  };
  subgroupMinSize: number;
  subgroupMaxSize: number;
  limits: GpuLimits;
  /** What agentgpu did on the way to this device that a user should know (fallbacks). */
  notes: string[];
}

/** The limits agentgpu asks for (the adapter's own maxima) and sizes its work by. */
export interface GpuLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxUniformBufferBindingSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupsPerDimension: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
}

export const limitNames: readonly (keyof GpuLimits)[] = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
];

export function readLimits(limits: GPUSupportedLimits): GpuLimits {
  const out = {} as GpuLimits;
  for (const name of limitNames) out[name] = limits[name];
  return out;
}

/** The requiredLimits that ask the device for everything the adapter offers. */
export function requestedLimits(adapter: GPUAdapter): Record<string, number> {
  // Alignment limits are "better" when smaller; asking for the adapter's value is always valid.
  return Object.fromEntries(limitNames.map((name) => [name, adapter.limits[name]]));
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
