import { spawnBrowserHost, type CreateWorker } from '../worker/client.js';
import { Engine, type EngineOptions } from './engine.js';

export interface BrowserEngineOptions extends Omit<EngineOptions, 'spawnHost'> {
  /**
   * Starts each host's Web Worker in place of the one agentgpu ships (which the app's bundler
   * finds and bundles by itself): e.g. `(name) => new Worker('/static/agentgpu-worker.js',
   * { type: 'module', name })` for the file served from elsewhere.
   */
  createWorker?: CreateWorker;
  /** Starts a host connection; default: a model-host Web Worker (see createWorker). */
  spawnHost?: EngineOptions['spawnHost'];
}

/** Starts an engine in a page: a Web Worker per host, models loaded, agents defined. */
export function createEngine({ createWorker, ...options }: BrowserEngineOptions): Promise<Engine> {
  return Engine.create({ spawnHost: (name) => spawnBrowserHost(name, createWorker), ...options });
}
