import { spawnBrowserHost } from '../worker/client.js';
import { Engine, type EngineOptions } from './engine.js';

export interface BrowserEngineOptions extends Omit<EngineOptions, 'spawnHost'> {
  /** Starts a host worker; default: agentgpu's model-host Web Worker. */
  spawnHost?: EngineOptions['spawnHost'];
}

/** Starts an engine in a page: a Web Worker per host, models loaded, agents defined. */
export function createEngine(options: BrowserEngineOptions): Promise<Engine> {
  return Engine.create({ spawnHost: spawnBrowserHost, ...options });
}
