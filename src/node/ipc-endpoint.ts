import type { ChildProcess } from 'node:child_process';
import type { Endpoint } from 'comlink';

/**
 * A child process's IPC channel (either end) as a comlink Endpoint. Messages are copied with
 * the 'advanced' serialization (structured clone: typed arrays, Maps, errors' fields); nothing
 * is transferred, so comlink.proxy() and transfer() do not apply.
 */
export function processEndpoint(proc: ChildProcess | NodeJS.Process): Endpoint {
  const wrapped = new Map<unknown, (data: unknown) => void>();
  return {
    postMessage(message: unknown) {
      if (proc.connected) proc.send!(message as never);
    },
    addEventListener(_type: string, listener: EventListenerOrEventListenerObject) {
      const handler = (data: unknown) => {
        const event = { data } as MessageEvent;
        if (typeof listener === 'function') listener(event);
        else listener.handleEvent(event);
      };
      wrapped.set(listener, handler);
      proc.on('message', handler);
    },
    removeEventListener(_type: string, listener: EventListenerOrEventListenerObject) {
      const handler = wrapped.get(listener);
      if (handler) proc.off('message', handler);
      wrapped.delete(listener);
    },
  };
}
