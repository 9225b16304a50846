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

/** Lines of a host's stderr kept, for the reason it died. */
const STDERR_LINES = 8;

/**
 * The flags a host process starts with: of the parent's, only those a module needs to load
 * and run (loaders, imports, conditions, memory and warning flags), never what makes the
 * parent what it is (--eval, --print, --input-type, --inspect, --test, --watch).
 */
export function hostExecArgv(parent: readonly string[]): string[] {
  const keep =
    /^--(import|loader|experimental-loader|require|conditions|max-old-space-size|no-warnings|enable-source-maps|experimental-[\w-]+|no-experimental-[\w-]+|disable-warning)(=|$)/;
  const takesValue = /^--(import|loader|experimental-loader|require|conditions|disable-warning)$/;
  const flags: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const flag = parent[i];
    if (flag === '-r' && i + 1 < parent.length) {
      flags.push('--require', parent[++i]);
      continue;
    }
    if (!keep.test(flag)) {
      // A dropped flag's value goes with it (`-e CODE`, `--input-type module`).
      if (/^(-e|--eval|-p|--print|--input-type)$/.test(flag)) i++;
      continue;
    }
    flags.push(flag);
    if (takesValue.test(flag) && i + 1 < parent.length) flags.push(parent[++i]);
  }
  return flags;
}

/** Starts a model host in a child process. `script`: the host module to run. */
export function spawnNodeHost(name: string, script: URL = defaultHostScript): HostConnection {
  installErrorTransfer();
  const child = fork(fileURLToPath(script), [`--agentgpu-host=${name}`], {
    serialization: 'advanced',
    // Not the parent's flags: `node -e`, --input-type or --inspect would break a host script.
    execArgv: hostExecArgv(process.execArgv),
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  // The host's stderr passes through, and its last lines go with the reason it died.
  const tail: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    tail.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((line) => line.trim() !== ''),
    );
    tail.splice(0, Math.max(0, tail.length - STDERR_LINES));
  });
  const host = Comlink.wrap<ModelHostApi>(processEndpoint(child));
  const { gone, settle } = goneSignal();
  let stopped = false;
  child.on('exit', (code, signal) => {
    const said = tail.length > 0 ? `; its last words: ${tail.join(' | ')}` : '';
    settle(
      signal
        ? `the worker was killed (${signal})${said}`
        : `the worker exited with code ${code}${said}`,
    );
  });
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
