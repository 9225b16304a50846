import type * as Comlink from 'comlink';
import { HOST_MESSAGE_TYPES, type HostMessage, type ModelHostApi } from './protocol.js';

/**
 * One running model-host worker as the coordinator holds it. `gone` settles, once, with why
 * the worker stopped: it crashed or exited, lost its GPU device, or was terminated.
 */
export interface HostConnection {
  host: Comlink.Remote<ModelHostApi>;
  gone: Promise<string>;
  /** Messages the host posts outside its replies (streamed tokens, device loss). */
  onMessage(listener: (message: HostMessage) => void): void;
  /** Stops the worker and releases `host` (idempotent); `gone` settles with `reason`. */
  terminate(reason?: string): void;
}

/** Whether `data` is one of the host's own messages (not a comlink reply). */
export function isHostMessage(data: unknown): data is HostMessage {
  const type = (data as { type?: unknown } | null)?.type;
  return (HOST_MESSAGE_TYPES as readonly unknown[]).includes(type);
}

/** Starts a model-host worker named `name` (a Web Worker in a page, a worker_thread in Node). */
export type SpawnHost = (name: string) => HostConnection;

/** A promise that settles when `settle` is first called, and the function that settles it. */
export function goneSignal(): { gone: Promise<string>; settle: (reason: string) => void } {
  let settle!: (reason: string) => void;
  let settled = false;
  const gone = new Promise<string>((resolve) => {
    settle = (reason) => {
      if (settled) return;
      settled = true;
      resolve(reason);
    };
  });
  return { gone, settle };
}
