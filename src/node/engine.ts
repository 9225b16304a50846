// createEngine for Node: each model-host worker is a child process running the ModelHost on
// Dawn (dist/node/host-process.js), spoken to over IPC.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import { Engine, type EngineOptions } from '../coordinator/engine.js';
import { goneSignal, isHostMessage, type HostConnection } from '../worker/hosts.js';
import type { ModelHostApi } from '../worker/protocol.js';
import { installErrorTransfer } from '../worker/transfer.js';
import { processEndpoint } from './ipc-endpoint.js';

/** The built host beside this module (dist/node/host-process.js). */
const defaultHostScript = new URL('./host-process.js', import.meta.url);

/** Starts a model host in a child process. `script`: the host module to run. */
export function spawnNodeHost(name: string, script: URL = defaultHostScript): HostConnection {
  installErrorTransfer();
  const child = fork(fileURLToPath(script), [`--agentgpu-host=${name}`], {
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const host = Comlink.wrap<ModelHostApi>(processEndpoint(child));
  const { gone, settle } = goneSignal();
  let stopped = false;
  child.on('exit', (code, signal) =>
    settle(signal ? `the worker was killed (${signal})` : `the worker exited with code ${code}`),
  );
  child.on('error', (error) => settle(`the worker failed: ${error.message}`));
  const listeners: ((
    message: Parameters<Parameters<HostConnection['onMessage']>[0]>[0],
  ) => void)[] = [];
  child.on('message', (data: unknown) => {
    if (!isHostMessage(data)) return;
    if (data.type === 'agentgpu:devicelost') {
      settle(`its GPU device was lost (${data.reason}): ${data.message}`);
    }
    for (const listener of listeners) listener(data);
  });
  return {
    host,
    gone,
    onMessage: (listener) => listeners.push(listener),
    terminate(reason = 'terminated') {
      settle(reason);
      if (stopped) return;
      stopped = true;
      host[Comlink.releaseProxy]();
      child.kill('SIGKILL');
    },
  };
}

export interface NodeEngineOptions extends Omit<EngineOptions, 'spawnHost'> {
  /** Starts a host worker; default: a child process running dist/node/host-process.js. */
  spawnHost?: EngineOptions['spawnHost'];
}

/** Starts an engine in Node: host processes on Dawn, models loaded, agents defined. */
export function createEngine(options: NodeEngineOptions): Promise<Engine> {
  return Engine.create({ spawnHost: (name) => spawnNodeHost(name), ...options });
}
