// agentgpu's edge server: an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions,
// /v1/embeddings, /v1/models) over an engine on Dawn. Concurrent requests share the model's
// batched decode; bad requests get OpenAI-style error JSON with the right status; a global
// queue limit answers 429 with Retry-After; the Host header is checked (DNS rebinding); an
// optional bearer token guards it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AgentGpuError,
  ContextLengthError,
  HostRestartedError,
  ModelNotFoundError,
  QueueFullError,
  RequestError,
} from '../errors.js';
import type { Engine } from '../coordinator/engine.js';

export interface ServeOptions {
  engine: Engine;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** The interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Requests waiting or running at once before 429 (default 64). */
  queueLimit?: number;
  /** Host header names accepted besides localhost, 127.0.0.1, [::1] and the bound address. */
  allowedHosts?: string[];
  /** Request bodies larger than this are refused with 413 (default 4 MiB). */
  maxBodyBytes?: number;
  /**
   * Origins a page may call from (CORS): none by default; '*' lets any page call it (the API
   * key then guards it alone).
   */
  corsOrigins?: string[] | '*';
  /** Called for every request answered (logs). */
  onRequest?: (entry: { method: string; path: string; status: number; ms: number }) => void;
}

export interface EdgeServer {
  readonly url: string;
  readonly server: Server;
  /** Requests waiting or running now. */
  readonly active: number;
  /**
   * Stops taking requests (503 with Retry-After) while those running finish, as before a
   * restart; `resume()` takes them again.
   */
  drain(retryAfterSeconds?: number): void;
  resume(): void;
  close(): Promise<void>;
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** An error as OpenAI's API answers it: status and body. */
function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof ContextLengthError) {
    return new HttpError(
      400,
      error.message,
      'invalid_request_error',
      'context_length_exceeded',
      error.param ?? 'messages',
    );
  }
  if (error instanceof ModelNotFoundError) {
    return new HttpError(404, error.message, 'invalid_request_error', 'model_not_found', 'model');
  }
  if (error instanceof RequestError) {
    return new HttpError(400, error.message, 'invalid_request_error', null, error.param ?? null);
  }
  if (error instanceof QueueFullError) {
    return new HttpError(429, error.message, 'rate_limit_error', 'queue_full', null, {
      'retry-after': '1',
    });
  }
  if (error instanceof HostRestartedError) {
    return new HttpError(503, error.message, 'server_error', 'host_restarted', null, {
      'retry-after': '2',
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof AgentGpuError) return new HttpError(500, message, 'server_error');
  return new HttpError(500, `internal error: ${message}`, 'server_error');
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function errorBody(e: HttpError): ErrorBody {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) {
    // Drain it, then refuse: the client said it was not JSON.
    req.resume();
    throw new HttpError(
      415,
      `the body must be JSON (Content-Type: application/json), got ${JSON.stringify(type || 'none')}`,
    );
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    throw new HttpError(413, `the body is ${declared} bytes; at most ${limit} are accepted`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `the body is over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'the body is empty: send a JSON object');
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'the body must be a JSON object');
  }
  if (jsonDepth(body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
    throw new HttpError(400, `the body nests deeper than ${MAX_BODY_DEPTH} levels`);
  }
  return body;
}

/** How deep a request body may nest (messages, tools, schemas): far past any real one. */
const MAX_BODY_DEPTH = 64;

/** The nesting depth of a parsed JSON value, counted without recursion up to `limit` + 1. */
function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(v as object)) stack.push([child, depth + 1]);
  }
  return deepest;
}

const LOCAL_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

/** Starts the edge server; resolves once it listens. */
export async function serve(options: ServeOptions): Promise<EdgeServer> {
  const { engine } = options;
  const queueLimit = options.queueLimit ?? 64;
  const maxBody = options.maxBodyBytes ?? 4 << 20;
  let active = 0;
  let draining: number | undefined;
  let boundHost = options.host ?? '127.0.0.1';
  const allowed = () => new Set([...LOCAL_HOSTS, boundHost, ...(options.allowedHosts ?? [])]);

  const handle = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    // DNS rebinding: a page on another name that resolves here must not reach the API.
    const hostName = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    if (!allowed().has(hostName)) {
      throw new HttpError(
        403,
        `Host "${req.headers.host ?? ''}" is not allowed: use localhost, or start the server ` +
          'with --allowed-host NAME',
        'invalid_request_error',
        'host_not_allowed',
      );
    }
    if (options.apiKey !== undefined) {
      const auth = req.headers.authorization ?? '';
      if (auth !== `Bearer ${options.apiKey}`) {
        throw new HttpError(
          401,
          auth ? 'the API key is not valid' : 'an API key is required: Authorization: Bearer KEY',
          'invalid_request_error',
          'invalid_api_key',
        );
      }
    }
    const routes: Record<string, string> = {
      '/v1/models': 'GET',
      '/v1/chat/completions': 'POST',
      '/v1/completions': 'POST',
      '/v1/embeddings': 'POST',
      '/health': 'GET',
    };
    const model = /^\/v1\/models\/(.+)$/.exec(path);
    const method = model ? 'GET' : routes[path];
    if (!method) {
      throw new HttpError(
        404,
        `no route ${req.method} ${path}`,
        'invalid_request_error',
        'not_found',
      );
    }
    if (req.method !== method) {
      throw new HttpError(
        405,
        `${path} takes ${method}, not ${req.method}`,
        'invalid_request_error',
        null,
        null,
        {
          allow: method,
        },
      );
    }
    if (path === '/health') return send(res, 200, { status: 'ok', active });
    if (path === '/v1/models') return send(res, 200, await engine.models.list());
    if (model) {
      let id: string;
      try {
        id = decodeURIComponent(model[1]);
      } catch {
        throw new HttpError(400, `the model id in ${path} is not a valid percent-encoded string`);
      }
      const found = (await engine.models.list()).data.find((m) => m.id === id);
      if (!found)
        throw new HttpError(
          404,
          `no model "${id}"`,
          'invalid_request_error',
          'model_not_found',
          'model',
        );
      return send(res, 200, found);
    }
    const body = await readJson(req, maxBody);
    if (draining !== undefined) {
      throw new HttpError(
        503,
        'the server is restarting: retry shortly',
        'server_error',
        'unavailable',
        null,
        { 'retry-after': String(draining) },
      );
    }
    if (active >= queueLimit) {
      throw new HttpError(
        429,
        `the server has ${active} requests waiting or running, its limit: retry shortly`,
        'rate_limit_error',
        'queue_full',
        null,
        { 'retry-after': '1' },
      );
    }
    active++;
    // A client that goes away cancels its request.
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished)
        controller.abort(new DOMException('the client went away', 'AbortError'));
    });
    try {
      const signal = controller.signal;
      if (path === '/v1/embeddings') {
        return send(res, 200, await engine.embeddings.create(body as never, { signal }));
      }
      const params = body as { stream?: unknown; agent?: unknown };
      if (params && typeof params === 'object' && 'agent' in params) {
        throw new HttpError(
          400,
          'the edge server serves models: "agent" is not a parameter here',
          'invalid_request_error',
          null,
          'agent',
        );
      }
      const chat = path === '/v1/chat/completions';
      if (params?.stream !== true) {
        const reply = chat
          ? await engine.chat.completions.create(body as never, { signal })
          : await engine.completions.create(body as never, { signal });
        return send(res, 200, reply);
      }
      const stream = chat
        ? await engine.chat.completions.create(body as never, { signal })
        : await engine.completions.create(body as never, { signal });
      // The headers wait for the first chunk: what fails before it (a schema no reply can
      // meet, an empty prompt) is answered as a whole request is, a 4xx with OpenAI's error.
      const chunks = (stream as unknown as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      let next = await chunks.next();
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      try {
        for (; !next.done; next = await chunks.next()) {
          res.write(`data: ${JSON.stringify(next.value)}\n\n`);
        }
        res.end('data: [DONE]\n\n');
      } catch (error) {
        // Headers are gone: the error travels as an event, and the stream ends without [DONE].
        if (!res.destroyed) {
          res.end(`data: ${JSON.stringify(errorBody(toHttpError(error)))}\n\n`);
        }
      }
    } finally {
      active--;
    }
  };

  // No page of another origin may call the server unless it is named (or '*' is asked for):
  // without a key, any page on the machine could drive it otherwise.
  const cors = options.corsOrigins ?? [];
  const server = createServer((req, res) => {
    const started = Date.now();
    const path = (req.url ?? '/').split('?')[0];
    const origin = req.headers.origin;
    if (origin && (cors === '*' || cors.includes(origin))) {
      res.setHeader('access-control-allow-origin', cors === '*' ? '*' : origin);
      res.setHeader('access-control-expose-headers', 'retry-after');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, POST, OPTIONS',
          'access-control-allow-headers': 'authorization, content-type',
          'access-control-max-age': '600',
        });
        res.end();
        return;
      }
    }
    res.on('finish', () =>
      options.onRequest?.({
        method: req.method ?? '',
        path,
        status: res.statusCode,
        ms: Date.now() - started,
      }),
    );
    handle(req, res, path).catch((error: unknown) => {
      const e = toHttpError(error);
      if (res.destroyed) return;
      send(res, e.status, errorBody(e), e.headers);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, boundHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  boundHost = options.host ?? address.address;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    server,
    get active() {
      return active;
    },
    drain(retryAfterSeconds = 1) {
      draining = retryAfterSeconds;
    },
    resume() {
      draining = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
