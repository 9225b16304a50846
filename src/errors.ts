// The named errors agentgpu throws. Each message says what went wrong and what to do about it.
// Every class spells out its `name` on its prototype (a minifier renames classes, so
// `new.target.name` would be 'w' in an app's production build): errors keep their class across
// the worker boundary by it (see worker/transfer.ts).

export class AgentGpuError extends Error {
  static {
    this.prototype.name = 'AgentGpuError';
  }
}

/** What was missing when no WebGPU device could be had. */
export type WebGpuMissing =
  | 'navigator.gpu' // the browser exposes no WebGPU at all
  | 'adapter' // WebGPU exists but no adapter was offered
  | 'dawn' // Node: the optional `webgpu` package is not installed or will not load
  | 'vulkan' // Node: no Vulkan loader or driver was found
  | 'device'; // an adapter was found but it refused to create a device

export class WebGpuUnavailableError extends AgentGpuError {
  static {
    this.prototype.name = 'WebGpuUnavailableError';
  }
  readonly missing: WebGpuMissing;
  constructor(missing: WebGpuMissing, message: string, options?: ErrorOptions) {
    super(message, options);
    this.missing = missing;
  }
}

/** A buffer could not be allocated: too large for the adapter, or out of GPU memory. */
export class GpuAllocationError extends AgentGpuError {
  static {
    this.prototype.name = 'GpuAllocationError';
  }
}

/** A WGSL shader failed to preprocess, compile or build into a pipeline. */
export class ShaderError extends AgentGpuError {
  static {
    this.prototype.name = 'ShaderError';
  }
}

/** The GPU device was lost (driver reset, destroyed, out of memory) while it was in use. */
export class DeviceLostError extends AgentGpuError {
  static {
    this.prototype.name = 'DeviceLostError';
  }
  readonly reason: string;
  constructor(reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * A GGUF file that is malformed or unsupported. `field` names what was being read and `offset`
 * is its byte position in the file, so a bad file can be looked at with a hex dump.
 */
export class GgufError extends AgentGpuError {
  static {
    this.prototype.name = 'GgufError';
  }
  readonly field: string;
  readonly offset: number;
  constructor(field: string, offset: number, problem: string, options?: ErrorOptions) {
    super(`GGUF ${field} at byte ${offset}: ${problem}`, options);
    this.field = field;
    this.offset = offset;
  }
}

/** A validation error reported by WebGPU for something agentgpu dispatched. */
export class GpuValidationError extends AgentGpuError {
  static {
    this.prototype.name = 'GpuValidationError';
  }
}

/**
 * A model file could not be read: not found, refused, cut off mid-way, or served without Range
 * support. `source` is the URL or path; `status` the HTTP status when a server answered.
 */
export class ModelLoadError extends AgentGpuError {
  static {
    this.prototype.name = 'ModelLoadError';
  }
  readonly source: string;
  readonly status: number | undefined;
  constructor(source: string, message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options);
    this.source = source;
    this.status = options?.status;
  }
}

/** Where a chat template came from: the GGUF, the caller's override, or agentgpu's built-ins. */
export type ChatTemplateOrigin = 'gguf' | 'override' | 'builtin';

/**
 * A chat template was missing, or failed to parse or to render (a Jinja error, or the template's
 * own raise_exception). `origin` says whose template it was, `stage` which step failed.
 */
export class ChatTemplateError extends AgentGpuError {
  static {
    this.prototype.name = 'ChatTemplateError';
  }
  readonly origin: ChatTemplateOrigin;
  readonly stage: 'missing' | 'parse' | 'render';
  constructor(
    origin: ChatTemplateOrigin,
    stage: 'missing' | 'parse' | 'render',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.origin = origin;
    this.stage = stage;
  }
}

/** A sequence's context, or the KV cache's blocks, are full: end a sequence or use a window. */
export class KvCacheFullError extends AgentGpuError {
  static {
    this.prototype.name = 'KvCacheFullError';
  }
}

/**
 * A model-host worker stopped (crashed, was terminated, lost its device, or stopped answering)
 * while a request ran on it. The coordinator restarts the host; `host` names it.
 */
export class HostRestartedError extends AgentGpuError {
  static {
    this.prototype.name = 'HostRestartedError';
  }
  readonly host: string;
  constructor(host: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.host = host;
  }
}

/** A request the engine cannot take: unknown agent or model, a full queue, bad parameters. */
export class RequestError extends AgentGpuError {
  static {
    this.prototype.name = 'RequestError';
  }
  /** What was wrong, as OpenAI names it: the parameter at fault, when there is one. */
  readonly param: string | undefined;
  constructor(message: string, param?: string, options?: ErrorOptions) {
    super(message, options);
    this.param = param;
  }
}

/** A request names a model (or agent) that is not there (OpenAI's model_not_found, 404). */
export class ModelNotFoundError extends RequestError {
  static {
    this.prototype.name = 'ModelNotFoundError';
  }
}

/** A prompt longer than the model's context (OpenAI's context_length_exceeded). */
export class ContextLengthError extends RequestError {
  static {
    this.prototype.name = 'ContextLengthError';
  }
}

/** An agent's queue is at its limit: retry later, or raise `limits.queue`. */
export class QueueFullError extends AgentGpuError {
  static {
    this.prototype.name = 'QueueFullError';
  }
}

/**
 * Long-term memory could not be written: the browser's storage quota is reached (or storage
 * turned read-only). Nothing of the failed write was kept; reads still work.
 */
export class MemoryQuotaError extends AgentGpuError {
  static {
    this.prototype.name = 'MemoryQuotaError';
  }
}

/**
 * A cloud (OpenAI-compatible) endpoint failed: refused, unreachable, timed out, or answered
 * with an error. `status` is the HTTP status when there was one; `retryable` says whether
 * trying again may help (connection errors, 408, 409, 429, 5xx).
 */
export class OffloadError extends AgentGpuError {
  static {
    this.prototype.name = 'OffloadError';
  }
  readonly endpoint: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly retryable: boolean;
  /** The wait the endpoint asked for (Retry-After), in ms. */
  readonly retryAfterMs: number | undefined;
  constructor(
    endpoint: string,
    message: string,
    options: ErrorOptions & {
      status?: number;
      code?: string;
      retryable?: boolean;
      retryAfterMs?: number;
    } = {},
  ) {
    super(message, options);
    this.endpoint = endpoint;
    this.status = options.status;
    this.code = options.code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A streamed reply ended without its final chunk: it was cut, not finished. */
export class IncompleteStreamError extends OffloadError {
  static {
    this.prototype.name = 'IncompleteStreamError';
  }
}

/** An endpoint failed too often lately; calls to it are refused until it cools down. */
export class CircuitOpenError extends OffloadError {
  static {
    this.prototype.name = 'CircuitOpenError';
  }
}

/** Every error class by name, for rebuilding errors that crossed a worker boundary. */
export const errorClasses = {
  AgentGpuError,
  WebGpuUnavailableError,
  GpuAllocationError,
  ShaderError,
  DeviceLostError,
  GpuValidationError,
  GgufError,
  ChatTemplateError,
  ModelLoadError,
  KvCacheFullError,
  HostRestartedError,
  RequestError,
  ContextLengthError,
  ModelNotFoundError,
  QueueFullError,
  MemoryQuotaError,
  OffloadError,
  IncompleteStreamError,
  CircuitOpenError,
} as const;
