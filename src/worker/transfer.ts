import * as Comlink from 'comlink';
import { errorClasses } from '../errors.js';

/** The plain shape an error travels in: its name, message, stack and own fields. */
interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
}

function serialize(error: unknown): SerializedError {
  if (!(error instanceof Error)) {
    return { name: 'Error', message: String(error), fields: {} };
  }
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key !== 'cause' && (value === null || typeof value !== 'object')) fields[key] = value;
  }
  return { name: error.name, message: error.message, stack: error.stack, fields };
}

/** Rebuilds an agentgpu error with its class (instanceof works) from its name. */
export function deserializeError({ name, message, stack, fields }: SerializedError): Error {
  const known = errorClasses[name as keyof typeof errorClasses] as ErrorConstructor | undefined;
  // A real Error (with the engine's internal error slot, so tools that test for one — test
  // runners, structured clone, Object.prototype.toString — see an error, message and all),
  // given the class's prototype without running its constructor.
  const error = new Error(message);
  Object.setPrototypeOf(error, (known ?? Error).prototype);
  Object.defineProperty(error, 'stack', { value: stack, writable: true, configurable: true });
  Object.assign(error, fields, { name });
  return error;
}

let installed = false;

/**
 * Comlink's default throw handler turns errors into plain Errors. This one keeps agentgpu's
 * classes and their fields (`missing`, `reason`) across the boundary. Both sides install it.
 */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  // Comlink keeps its "thrown" marker private: reuse the built-in handler's test for it.
  const builtin = Comlink.transferHandlers.get('throw');
  if (!builtin) throw new Error('comlink has no "throw" transfer handler to replace');
  const throwHandler: Comlink.TransferHandler<unknown, SerializedError> = {
    canHandle: builtin.canHandle,
    serialize: (thrown) => [serialize((thrown as { value: unknown }).value), []],
    deserialize: (data) => {
      throw deserializeError(data);
    },
  };
  Comlink.transferHandlers.set('throw', throwHandler as Comlink.TransferHandler<unknown, unknown>);
}
