import { ModelLoadError } from '../../errors.js';
import { formatBytes } from '../../gpu/facts.js';

// One byte range of a remote file over HTTP Range requests, resilient to what goes wrong on real
// networks: a response cut off mid-body is retried for the bytes still missing (not from the
// start), 5xx/429 answers and dropped connections are retried with backoff, a stalled response
// is given up on, and all of it within a fixed number of retries so a bad server fails clearly
// instead of hanging.

/** What a response said about the whole file. A different size or ETag later means it changed. */
export interface RemoteFile {
  size: number;
  etag: string | undefined;
}

export interface RangeFetchOptions {
  /** Sent with every request (an Authorization header for gated Hugging Face models). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Failed attempts allowed per range after the first. */
  retries: number;
  /** Wait before the first retry; doubles with each retry after it. */
  retryDelayMs: number;
  /** A response that delivers no bytes for this long is abandoned and retried. */
  stallTimeoutMs: number;
}

/** The server's file is not the one this load started on (its size or ETag changed). */
export class RemoteFileChanged extends Error {
  constructor(readonly file: RemoteFile) {
    super(`the file changed (now ${file.size} bytes, ETag ${file.etag ?? 'none'})`);
  }
}

/** A failure worth another try: a dropped connection, a short body, a stall, a 5xx or a 429. */
class TransientFailure extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

interface ContentRange {
  first: number;
  last: number;
  /** undefined for `*`: the server does not say. */
  total: number | undefined;
}

function parseContentRange(header: string | null): ContentRange | undefined {
  const match = header?.match(/^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i);
  if (!match) return undefined;
  return {
    first: Number(match[1]),
    last: Number(match[2]),
    total: match[3] === '*' ? undefined : Number(match[3]),
  };
}

/** `bytes * /N`, sent with a 416: how long the file really is. */
function parseUnsatisfiedRange(header: string | null): number | undefined {
  const match = header?.match(/^\s*bytes\s+\*\/(\d+)\s*$/i);
  return match ? Number(match[1]) : undefined;
}

/** ETags compared without their weak marker: CDNs weaken strong ones when they recompress. */
function etagOf(response: Response): string | undefined {
  return response.headers.get('etag')?.replace(/^W\//, '') ?? undefined;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function statusError(url: string, response: Response, from: number, to: number): Error {
  const { status } = response;
  const what = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}`;
  if (RETRYABLE_STATUS.has(status)) {
    return new TransientFailure(`${what} for bytes ${from}-${to}`, status);
  }
  if (status === 404 || status === 410) {
    return new ModelLoadError(
      url,
      `no model file at ${url} (${what}): check the URL ` +
        '(for Hugging Face: the repository, the file name and the revision)',
      { status },
    );
  }
  if (status === 401 || status === 403) {
    return new ModelLoadError(
      url,
      `${url} refused access (${what}): the model may be gated or private; accept its terms ` +
        "and pass a token in options.headers ({ Authorization: 'Bearer …' })",
      { status },
    );
  }
  return new ModelLoadError(
    url,
    `${url} answered ${what} for bytes ${from}-${to}: check the URL and the server`,
    { status },
  );
}

function noRangeSupport(url: string, size: number | undefined): ModelLoadError {
  const whole = size === undefined ? 'the whole file' : `the whole ${formatBytes(size)} file`;
  return new ModelLoadError(
    url,
    `${url} does not support Range requests (it answered HTTP 200 with ${whole}): agentgpu reads ` +
      'models in parts and needs a server that answers "Range: bytes=a-b" with 206 ' +
      '(Hugging Face, nginx, Apache, S3 and most CDNs do; python -m http.server does not)',
    { status: 200 },
  );
}

/** Where a range download stands across its attempts. */
interface RangeState {
  url: string;
  start: number;
  /** Exclusive; may pass the end of the file until the first response says where that is. */
  end: number;
  file: RemoteFile | undefined;
  bytes: Uint8Array | undefined;
  got: number;
}

/**
 * Fetches bytes [start, end) of `url`; `end` may pass the end of the file (the first response
 * says where it is). `expected` is the file as first seen: an answer for another size or ETag
 * throws RemoteFileChanged. `onBytes(got, file)` is told, as bytes arrive, how many of the range
 * have arrived so far (it only grows: a retry fetches only what is missing).
 */
export async function fetchRange(
  url: string,
  start: number,
  end: number,
  expected: RemoteFile | undefined,
  options: RangeFetchOptions,
  onBytes: (got: number, file: RemoteFile) => void = () => {},
): Promise<{ bytes: Uint8Array; file: RemoteFile }> {
  const state: RangeState = { url, start, end, file: expected, bytes: undefined, got: 0 };
  let failures = 0;
  for (;;) {
    if (state.bytes && state.file && state.got === state.bytes.length) {
      return { bytes: state.bytes, file: state.file };
    }
    const before = state.got;
    try {
      await attempt(state, options, onBytes);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (!(error instanceof TransientFailure)) throw error;
      failures++;
      if (failures > options.retries) throw gaveUp(state, failures, error);
      await sleep(options.retryDelayMs * 2 ** (failures - 1), options.signal);
      continue;
    }
    // A complete response that still left bytes missing (a server that caps its ranges) is
    // fine as long as it brought some; one that brought none would loop forever.
    if (state.got === before && state.bytes && state.got < state.bytes.length) {
      failures++;
      if (failures > options.retries) {
        throw gaveUp(state, failures, new TransientFailure('a response with no bytes'));
      }
    }
  }
}

function gaveUp(state: RangeState, attempts: number, last: TransientFailure): ModelLoadError {
  const { url, start } = state;
  if (last.status !== undefined) {
    return new ModelLoadError(
      url,
      `${url} kept failing (${last.message}) after ${attempts} attempts: the server is down ` +
        'or overloaded; try again later',
      { status: last.status, cause: last },
    );
  }
  const length = state.bytes?.length ?? state.end - start;
  return new ModelLoadError(
    url,
    `the download of ${url} kept breaking off while reading bytes ${start}-${start + length - 1} ` +
      `(got ${state.got} of ${length} after ${attempts} attempts; last: ${last.message}): ` +
      'check the network and load again (with a cache, what was read is not fetched again)',
    { cause: last },
  );
}

/** One request for the bytes still missing; advances `state.got` by what arrives. */
async function attempt(
  state: RangeState,
  options: RangeFetchOptions,
  onBytes: (got: number, file: RemoteFile) => void,
): Promise<void> {
  const from = state.start + state.got;
  const to = (state.bytes ? state.start + state.bytes.length : state.end) - 1;
  // Our own controller, so a stall can end this attempt without aborting the whole load.
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const armStallTimer = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new TransientFailure(`no bytes for ${options.stallTimeoutMs} ms`)),
      options.stallTimeoutMs,
    );
  };
  armStallTimer();
  try {
    let response: Response;
    try {
      response = await fetch(state.url, {
        // identity: ranges count bytes of the file, not of a compressed body (browsers set
        // Accept-Encoding themselves and ignore this).
        headers: {
          ...options.headers,
          Range: `bytes=${from}-${to}`,
          'Accept-Encoding': 'identity',
        },
        signal: controller.signal,
      });
    } catch (error) {
      throw transient(error, 'the request failed');
    }
    const promised = accept(state, response, from, to);
    if (promised === 0) return;
    await readBody(state, response, promised, onBytes, armStallTimer);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function transient(error: unknown, what: string): TransientFailure {
  if (error instanceof TransientFailure) return error;
  const reason = error instanceof Error ? error.message : String(error);
  // undici hides the socket error in `cause`; it says more than "fetch failed" or "terminated".
  const cause =
    error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return new TransientFailure(`${what} (${reason}${cause})`, undefined, { cause: error });
}

/**
 * Checks a response's status and headers against what was asked and what the file is, learns
 * the file's size from the first one, and returns how many body bytes it promises.
 */
function accept(state: RangeState, response: Response, from: number, to: number): number {
  const { url } = state;
  const discard = () => void response.body?.cancel().catch(() => {});
  if (response.status === 206) {
    const range = parseContentRange(response.headers.get('content-range'));
    if (!range || range.total === undefined) {
      discard();
      throw new ModelLoadError(
        url,
        `${url} answered 206 without a readable Content-Range header, so the file's size is ` +
          'unknown: a cross-origin server must send "Access-Control-Expose-Headers: Content-Range"',
        { status: 206 },
      );
    }
    learn(state, { size: range.total, etag: etagOf(response) }, discard);
    if (range.first !== from || range.last < range.first || range.last > to) {
      discard();
      throw new ModelLoadError(
        url,
        `${url} answered bytes ${range.first}-${range.last} when asked for ${from}-${to}: ` +
          'the server (or a proxy) mishandles Range requests; try another mirror',
        { status: 206 },
      );
    }
    return range.last - range.first + 1;
  }
  if (response.status === 200) {
    // The whole file instead of a range: fine only when the whole file is what was asked for,
    // and its length is declared (so nothing unbounded is buffered).
    const length = Number(response.headers.get('content-length') ?? NaN);
    const size = state.file?.size ?? length;
    if (from !== 0 || !Number.isSafeInteger(length) || length !== size || length > to + 1) {
      discard();
      throw noRangeSupport(url, Number.isSafeInteger(length) ? length : undefined);
    }
    learn(state, { size, etag: etagOf(response) }, discard);
    return length;
  }
  if (response.status === 416) {
    discard();
    // Asked from byte 0 of a file not yet seen: the file is empty.
    const size = parseUnsatisfiedRange(response.headers.get('content-range'));
    if (size === 0 && from === 0 && !state.file) {
      learn(state, { size: 0, etag: etagOf(response) }, discard);
      return 0;
    }
    if (size !== undefined && state.file && size !== state.file.size) {
      throw new RemoteFileChanged({ size, etag: etagOf(response) });
    }
  }
  discard();
  throw statusError(url, response, from, to);
}

/** Sets or checks the file's identity, and sizes the buffer once the file's end is known. */
function learn(state: RangeState, seen: RemoteFile, discard: () => void): void {
  if (state.file) {
    const etagChanged = state.file.etag && seen.etag && state.file.etag !== seen.etag;
    if (seen.size !== state.file.size || etagChanged) {
      discard();
      throw new RemoteFileChanged(seen);
    }
  } else {
    state.file = seen;
  }
  if (!state.bytes) {
    const end = Math.min(state.end, state.file.size);
    state.bytes = new Uint8Array(Math.max(0, end - state.start));
  }
}

async function readBody(
  state: RangeState,
  response: Response,
  promised: number,
  onBytes: (got: number, file: RemoteFile) => void,
  armStallTimer: () => void,
): Promise<void> {
  const bytes = state.bytes!;
  const file = state.file!;
  if (!response.body) throw new TransientFailure('a response without a body');
  const reader = response.body.getReader();
  let left = promised;
  try {
    while (left > 0) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        throw transient(error, 'the connection dropped');
      }
      if (next.done) {
        throw new TransientFailure(`the response ended ${left} bytes early`);
      }
      armStallTimer();
      const n = Math.min(next.value.length, left);
      bytes.set(next.value.subarray(0, n), state.got);
      state.got += n;
      left -= n;
      onBytes(state.got, file);
    }
  } finally {
    // Frees the connection when the body is longer than promised or we stopped early.
    reader.cancel().catch(() => {});
  }
}
