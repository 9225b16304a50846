/**
 * Kernel checks against the CPU references, written once and run everywhere: by vitest on Dawn
 * in Node, inside a Web Worker in Chromium (e2e), by `agentgpu info` and by the demo page.
 */
export { type KernelCheckResult } from './harness.js';
export { checkMatvec, type QkvShape, checkMatvecQkv, checkGemm, checkDotInput } from './matvec.js';
export {
  type AttentionScenario,
  checkAttention,
  checkKvWrite,
  checkKvShift,
  checkRope,
} from './attention.js';
export {
  checkRmsNorm,
  checkSoftmax,
  checkElementwise,
  checkUnary,
  checkEmbedding,
} from './elementwise.js';
export { checkArgmax, checkSample, checkPenalties, checkTokenMask } from './sampling.js';
export { type KernelCase, kernelCases } from './cases.js';
export {
  REDUCTION_KERNELS,
  representativeCases,
  needsF16,
  runsOn,
  caseName,
  runKernelCase,
  runKernelChecks,
} from './run.js';
