import * as Comlink from 'comlink';
import type { DeviceLostMessage, ModelHostApi } from './protocol.js';
import { installErrorTransfer } from './transfer.js';

/** An app's handle on one model-host worker. */
export interface ModelHostClient {
  /** The worker's API; every call is a message round trip. */
  readonly host: Comlink.Remote<ModelHostApi>;
  readonly worker: Worker;
  /** Called when the worker's device is lost; host.init() gets a new one. */
  onDeviceLost(listener: (lost: DeviceLostMessage) => void): () => void;
  terminate(): void;
}

/** Wraps a model-host worker (src/worker/index.ts) in a typed comlink proxy. */
export function connectModelHost(worker: Worker): ModelHostClient {
  installErrorTransfer();
  const host = Comlink.wrap<ModelHostApi>(worker);
  return {
    host,
    worker,
    onDeviceLost(listener) {
      const handler = (event: MessageEvent) => {
        const data = event.data as Partial<DeviceLostMessage> | undefined;
        if (data?.type === 'agentgpu:devicelost') listener(data as DeviceLostMessage);
      };
      worker.addEventListener('message', handler);
      return () => worker.removeEventListener('message', handler);
    },
    terminate() {
      host[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

/** Starts the model-host worker that ships with agentgpu and connects to it. */
export function spawnModelHost(): ModelHostClient {
  const worker = new Worker(new URL('./index.ts', import.meta.url), {
    type: 'module',
    name: 'agentgpu-model-host',
  });
  return connectModelHost(worker);
}
