// Every value the README names for the browser entry: the type check (TypeScript 6 and 5) fails
// if one is not exported, and main.ts reports any the bundled app finds undefined.
import * as agentgpu from 'agentgpu';

export const documented = [
  'acquireBrowserGpu',
  'AgentGpuError',
  'connectModelHost',
  'createEngine',
  'DeviceLostError',
  'GgufError',
  'GpuAllocationError',
  'HostRestartedError',
  'KvCacheFullError',
  'LanguageModel',
  'loadEmbedder',
  'MemoryQuotaError',
  'MemoryStore',
  'offloadPolicySchema',
  'PolicyError',
  'ShaderError',
  'spawnModelHost',
  'WebGpuUnavailableError',
] as const satisfies readonly (keyof typeof agentgpu)[];

/** The names the README documents as types. */
export type Documented = [agentgpu.CreateWorker, agentgpu.Engine, agentgpu.ModelLoadProgress];

/** The documented names the bundled module does not define. */
export const missing = (): string[] => documented.filter((name) => agentgpu[name] === undefined);
