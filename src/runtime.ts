// What every entry point shares: errors, the GPU runtime and the kernels.
export * from './errors.js';
export { GpuContext, DeviceLostEvent, type GpuContextOptions } from './gpu/context.js';
export { ComputeBatch, workgroupGrid, type Binding } from './gpu/batch.js';
export { BufferPool } from './gpu/buffer-pool.js';
export { PipelineCache, type PipelineKey } from './gpu/pipeline-cache.js';
export { formatBytes, type GpuFacts, type GpuLimits } from './gpu/facts.js';
export { Matvec, type MatvecArgs } from './kernels/matvec.js';
export { RmsNorm, type RmsNormArgs } from './kernels/rms-norm.js';
export {
  checkMatvec,
  checkRmsNorm,
  kernelCases,
  runKernelChecks,
  type KernelCase,
  type KernelCheckResult,
} from './kernels/checks.js';
export { compareToReference, GuardedOutput, type Comparison } from './kernels/testing/compare.js';
