// agentgpu, browser entry: the runtime, navigator.gpu acquisition and the model-host worker.
export * from './runtime.js';
export { acquireBrowserGpu } from './gpu/acquire.js';
export {
  connectModelHost,
  spawnBrowserHost,
  spawnModelHost,
  type CreateWorker,
  type ModelHostClient,
} from './worker/client.js';
export * from './coordinator/index.js';
export * from './memory/index.js';
export { createEngine } from './coordinator/browser.js';
export { ModelHost } from './worker/host.js';
export type { ModelHostApi, ModelHostInitOptions, DeviceLostMessage } from './worker/protocol.js';
export * from './model/loader/index.js';
export * from './offload/index.js';
