// What every entry point shares: errors, the GPU runtime and the kernels.
export * from './errors.js';
export { GpuContext, DeviceLostEvent, type GpuContextOptions } from './gpu/context.js';
export { ComputeBatch, workgroupGrid, type Binding } from './gpu/batch.js';
export { BufferPool } from './gpu/buffer-pool.js';
export { PipelineCache, type PipelineKey } from './gpu/pipeline-cache.js';
export { formatBytes, type GpuFacts, type GpuLimits } from './gpu/facts.js';
export { Matvec, MATVEC_MAX_BATCH, type MatvecArgs, type MatvecOptions } from './kernels/matvec.js';
export { Gemm, type GemmArgs, type GemmOptions } from './kernels/gemm.js';
export {
  Attention,
  KvWrite,
  kvCacheBytes,
  type AttentionArgs,
  type AttentionConfig,
  type AttentionQuery,
  type KvWriteArgs,
} from './kernels/attention.js';
export { Rope, type RopeArgs, type RopeConfig } from './kernels/rope.js';
export { Elementwise, type ElementwiseArgs, type ElementwiseOp } from './kernels/elementwise.js';
export { Embedding, type EmbeddingArgs } from './kernels/embedding.js';
export { Softmax, type SoftmaxArgs } from './kernels/softmax.js';
export { Argmax, type ArgmaxArgs } from './kernels/argmax.js';
export { Sampler, type SampleArgs, type SamplingSettings } from './kernels/sample.js';
export { Penalties, type PenaltiesArgs, type PenaltySettings } from './kernels/penalties.js';
export { DotInputRounding, type DotInputArgs } from './kernels/dot-input.js';
export { pipelineKey, type Activations, type KernelOptions } from './kernels/variant.js';
export * as quant from './quant/index.js';
export { RmsNorm, type RmsNormArgs } from './kernels/rms-norm.js';
export {
  checkMatvec,
  checkRmsNorm,
  kernelCases,
  representativeCases,
  runKernelChecks,
  caseName,
  type KernelCase,
  type KernelCheckResult,
} from './kernels/checks/index.js';
export { compareToReference, GuardedOutput, type Comparison } from './kernels/testing/compare.js';
export {
  LanguageModel,
  type Generation,
  type GenerateOptions,
  type GeneratedToken,
  type GenerationResult,
  type GenerationTimings,
  type PromptInput,
} from './model/language-model.js';
export type { DecoderLoadProgress, DecoderOptions } from './model/decoder.js';
export type { ModelConfig, Architecture } from './model/config.js';
export type { ChatMessage } from './model/chat/index.js';
