import * as Comlink from 'comlink';
import type { DeviceLostMessage, ModelHostApi } from './protocol.js';
import { installErrorTransfer } from './transfer.js';
import { goneSignal, isHostMessage, type HostConnection } from './hosts.js';

/** An app's handle on one model-host worker. */
export interface ModelHostClient {
  /** The worker's API; every call is a message round trip. */
  readonly host: Comlink.Remote<ModelHostApi>;
  readonly worker: Worker;
  /** Called when the worker's device is lost; host.init() gets a new one. */
  onDeviceLost(listener: (lost: DeviceLostMessage) => void): () => void;
  terminate(): void;
}

/**
 * A model URL as the page means it: relative to the page (document.baseURI), not to the
 * worker's script, which a bundler puts wherever it likes (`/assets/worker-3f2a.js`).
 */
export function pageUrl<T>(source: T): T | string {
  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  if (typeof source !== 'string' || base === undefined) return source;
  try {
    return new URL(source, base).href;
  } catch {
    return source; // not a URL at all: the loader says so
  }
}

/** Wraps a model-host worker (src/worker/index.ts) in a typed comlink proxy. */
export function connectModelHost(worker: Worker): ModelHostClient {
  installErrorTransfer();
  const remote = Comlink.wrap<ModelHostApi>(worker);
  // loadModel resolves a relative URL here, against the page, before the worker sees it.
  const loadModel: ModelHostApi['loadModel'] = (source, options) =>
    remote.loadModel(pageUrl(source), options);
  const host = new Proxy(remote, {
    get: (target, key) => (key === 'loadModel' ? loadModel : Reflect.get(target, key)),
  });
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

/** Starts a model-host worker named `name`; see spawnModelHost. */
export type CreateWorker = (name: string) => Worker;

/**
 * Starts the model-host worker that ships with agentgpu and connects to it. `createWorker`
 * starts another instead: the same file served from elsewhere, or a worker of the app's own
 * that runs `agentgpu/worker`.
 */
export function spawnModelHost(
  name = 'agentgpu-model-host',
  createWorker?: CreateWorker,
): ModelHostClient {
  const worker = createWorker
    ? createWorker(name)
    : new Worker(new URL('./index.ts', import.meta.url), { type: 'module', name });
  return connectModelHost(worker);
}

/** A Web Worker model host as the coordinator holds it (createEngine in a page). */
export function spawnBrowserHost(name: string, createWorker?: CreateWorker): HostConnection {
  const client = spawnModelHost(`agentgpu-host-${name}`, createWorker);
  const { gone, settle } = goneSignal();
  let stopped = false;
  client.worker.addEventListener('error', (event) =>
    settle(`the worker failed: ${event.message || 'an uncaught error'}`),
  );
  client.onDeviceLost((lost) =>
    settle(`its GPU device was lost (${lost.reason}): ${lost.message}`),
  );
  return {
    host: client.host,
    gone,
    onMessage(listener) {
      client.worker.addEventListener('message', (event: MessageEvent) => {
        if (isHostMessage(event.data)) listener(event.data);
      });
    },
    terminate(reason = 'terminated') {
      if (!stopped) client.terminate();
      stopped = true;
      settle(reason);
    },
  };
}
