import { ModelLoadError } from '../../errors.js';
import { cacheStorageChunkCache, hasCacheStorage } from './cache-storage.js';
import {
  chunkKey,
  decodeMeta,
  encodeMeta,
  forgivingCache,
  metaKey,
  type ChunkCache,
} from './chunk-cache.js';
import {
  fetchRange,
  RemoteFileChanged,
  type RangeFetchOptions,
  type RemoteFile,
} from './http-range.js';
import { checkRead, type LoadProgress, type ModelSource } from './source.js';

// A model file on an HTTP(S) server, read in aligned chunks with Range requests. Chunks are the
// unit of everything: one request each, one cache entry each, and a couple of them held in
// memory so that WeightStore's reads (which straddle chunk boundaries) fetch each byte once.

/**
 * Bytes per request and per cache entry. Large enough that a request's round trip (50-200 ms to
 * a CDN) is small next to its transfer, small enough that a retry re-downloads little and a
 * multi-GB model is a few hundred cache entries. The same as WeightStore's read size.
 */
export const URL_CHUNK_SIZE = 16 << 20;

/** Chunks held in memory: the one being read and the next (reads straddle the boundary). */
const CHUNKS_IN_MEMORY = 2;

export interface UrlSourceOptions {
  /** Bytes per request and per cache entry (tests use small ones). */
  chunkSize?: number;
  /** Chunks kept in memory, least recently used dropped first. */
  chunksInMemory?: number;
  /**
   * Where chunks are cached for the next load: Cache Storage by default where there is one
   * (browsers, workers), none elsewhere; `false` for no cache.
   */
  cache?: ChunkCache | false;
  /** Told once when the cache fails (storage full); the load goes on uncached. */
  onCacheError?: (error: unknown) => void;
  /** Bytes delivered (from the network or the cache) out of the file's size; only grows. */
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
  /** Sent with every request, e.g. `{ Authorization: 'Bearer hf_…' }` for gated models. */
  headers?: Record<string, string>;
  /** Retries per chunk for dropped connections, short bodies, 5xx and 429 answers (3). */
  retries?: number;
  /** Wait before the first retry in ms, doubling after (250). */
  retryDelayMs?: number;
  /** A response that sends nothing for this long is abandoned and retried, in ms (30 s). */
  stallTimeoutMs?: number;
}

/** Counts each chunk's bytes once, however often it is fetched again after leaving memory. */
class ProgressCounter {
  private readonly credited: Float64Array;
  private loaded = 0;

  constructor(
    private readonly total: number,
    chunkSize: number,
    private readonly onProgress: ((progress: LoadProgress) => void) | undefined,
  ) {
    this.credited = new Float64Array(Math.ceil(total / chunkSize));
  }

  /** `bytes` of chunk `index` have been delivered, `from` the network or the cache. */
  report(index: number, bytes: number, from: LoadProgress['from']): void {
    const more = bytes - this.credited[index];
    if (more <= 0) return;
    this.credited[index] = bytes;
    this.loaded += more;
    this.onProgress?.({ loaded: this.loaded, total: this.total, from });
  }
}

/** Relative URLs resolve against the page (or worker) location, as fetch would. */
function absoluteUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url, globalThis.location?.href);
  } catch (error) {
    throw new ModelLoadError(
      String(url),
      `"${String(url)}" is not a URL: give an absolute http(s) URL` +
        (globalThis.location ? '' : ' (there is no page location to resolve it against here)'),
      { cause: error },
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ModelLoadError(
      parsed.href,
      `${parsed.href} is not an http(s) URL: use fileSource for a File or Blob, ` +
        "and pathSource (from 'agentgpu/node') for a local path",
    );
  }
  return parsed.href;
}

function chosenCache(options: UrlSourceOptions): ChunkCache | undefined {
  if (options.cache === false) return undefined;
  const cache = options.cache ?? (hasCacheStorage() ? cacheStorageChunkCache() : undefined);
  return cache && forgivingCache(cache, options.onCacheError);
}

/**
 * Opens a model file on an HTTP(S) server that supports Range requests. The file's size comes
 * from the cache when an earlier load stored it (then a fully cached file needs no request at
 * all), or else from the first chunk's response.
 */
export async function urlSource(
  url: string | URL,
  options: UrlSourceOptions = {},
): Promise<ModelSource> {
  const href = absoluteUrl(url);
  const chunkSize = options.chunkSize ?? URL_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  options.signal?.throwIfAborted();
  // Our own signal, so close() can stop downloads the caller's signal does not know about.
  const controller = new AbortController();
  const forwardAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', forwardAbort, { once: true });
  const range: RangeFetchOptions = {
    headers: options.headers,
    signal: controller.signal,
    retries: options.retries ?? 3,
    retryDelayMs: options.retryDelayMs ?? 250,
    stallTimeoutMs: options.stallTimeoutMs ?? 30_000,
  };
  const cache = chosenCache(options);
  let progress: ProgressCounter | undefined;
  const progressFor = (file: RemoteFile) =>
    (progress ??= new ProgressCounter(file.size, chunkSize, options.onProgress));

  try {
    const known = decodeMeta(await cache?.get(metaKey(href)));
    // Unless the cache knows it, the first chunk's response tells the file's size
    // (Content-Range) and version (ETag).
    const first = known
      ? undefined
      : await fetchRange(href, 0, chunkSize, undefined, range, (got, file) =>
          progressFor(file).report(0, got, 'network'),
        );
    const file = known ?? first!.file;
    const source = new ChunkedUrlSource(href, file, {
      chunkSize,
      capacity: Math.max(1, options.chunksInMemory ?? CHUNKS_IN_MEMORY),
      range,
      cache,
      progress: progressFor(file),
      stop: close,
    });
    if (first) {
      await cache?.put(metaKey(href), encodeMeta(file));
      await cache?.put(chunkKey(href, file, chunkSize, 0), first.bytes);
      source.hold(0, first.bytes);
    }
    return source;
  } catch (error) {
    close();
    throw error;
  }

  function close() {
    options.signal?.removeEventListener('abort', forwardAbort);
    if (!controller.signal.aborted) {
      controller.abort(new ModelLoadError(href, `${href} was closed: open it again to read it`));
    }
  }
}

/** What a ChunkedUrlSource works with, settled by urlSource. */
interface ChunkedUrlSourceConfig {
  chunkSize: number;
  /** Chunks held in memory. */
  capacity: number;
  range: RangeFetchOptions;
  cache: ChunkCache | undefined;
  progress: ProgressCounter;
  /** Aborts downloads in flight and lets go of the caller's signal. */
  stop: () => void;
}

class ChunkedUrlSource implements ModelSource {
  readonly size: number;
  /** Chunks in memory, least recently used first. */
  private readonly held = new Map<number, Uint8Array>();
  private readonly pending = new Map<number, Promise<Uint8Array>>();
  private readonly chunkSize: number;
  private readonly range: RangeFetchOptions;
  /** Where the last read ended, to tell sequential reading (worth reading ahead) from seeks. */
  private lastEnd = -Infinity;

  constructor(
    readonly name: string,
    private readonly file: RemoteFile,
    private readonly config: ChunkedUrlSourceConfig,
  ) {
    this.size = file.size;
    this.chunkSize = config.chunkSize;
    this.range = config.range;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRead(this.name, this.size, offset, length);
    this.range.signal?.throwIfAborted();
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + length - 1) / this.chunkSize);
    // Loading weights reads forward through the file: fetch the next chunk meanwhile.
    const sequential = offset >= this.lastEnd && offset - this.lastEnd < this.chunkSize;
    this.lastEnd = offset + length;
    if (sequential && length > 0) this.readAhead(last + 1);
    // A copy, never a view of a held chunk: the caller may transfer or keep what it gets.
    const out = new Uint8Array(length);
    for (let i = first; i <= last; i++) {
      const chunk = await this.chunk(i);
      const chunkStart = i * this.chunkSize;
      const from = Math.max(offset, chunkStart);
      const to = Math.min(offset + length, chunkStart + chunk.length);
      out.set(chunk.subarray(from - chunkStart, to - chunkStart), from - offset);
    }
    return out;
  }

  async close(): Promise<void> {
    this.config.stop();
    this.held.clear();
  }

  /** Puts a chunk in memory, dropping the least recently used beyond capacity. */
  hold(index: number, bytes: Uint8Array): void {
    this.held.delete(index);
    this.held.set(index, bytes);
    for (const oldest of this.held.keys()) {
      if (this.held.size <= this.config.capacity) break;
      this.held.delete(oldest);
    }
  }

  private readAhead(index: number): void {
    if (index * this.chunkSize >= this.size || this.held.has(index)) return;
    // A failure here is not the caller's: the read that needs the chunk fetches it again.
    this.chunk(index).catch(() => {});
  }

  private chunk(index: number): Promise<Uint8Array> {
    const held = this.held.get(index);
    if (held) {
      this.hold(index, held);
      return Promise.resolve(held);
    }
    let pending = this.pending.get(index);
    if (!pending) {
      pending = this.load(index)
        .then((bytes) => {
          if (!this.range.signal?.aborted) this.hold(index, bytes);
          return bytes;
        })
        .finally(() => this.pending.delete(index));
      this.pending.set(index, pending);
    }
    return pending;
  }

  /** One chunk from the cache when it has it whole, else from the server (then cached). */
  private async load(index: number): Promise<Uint8Array> {
    const start = index * this.chunkSize;
    const end = Math.min(start + this.chunkSize, this.size);
    const key = chunkKey(this.name, this.file, this.chunkSize, index);
    const cached = await this.config.cache?.get(key);
    // A cache entry of the wrong length is never served (cut short, or from another writer).
    if (cached && cached.length === end - start) {
      this.config.progress.report(index, cached.length, 'cache');
      return cached;
    }
    this.range.signal?.throwIfAborted();
    let bytes: Uint8Array;
    try {
      ({ bytes } = await fetchRange(this.name, start, end, this.file, this.range, (got) =>
        this.config.progress.report(index, got, 'network'),
      ));
    } catch (error) {
      if (!(error instanceof RemoteFileChanged)) throw error;
      // Point the cache at the new version, so the next load starts on it cleanly.
      await this.config.cache?.put(metaKey(this.name), encodeMeta(error.file));
      throw new ModelLoadError(
        this.name,
        `${this.name} changed on the server while it was being read (it was ${this.size} ` +
          `bytes${this.file.etag ? `, ETag ${this.file.etag}` : ''}; now ${error.file.size}` +
          `${error.file.etag ? `, ETag ${error.file.etag}` : ''}): load it again`,
        { cause: error },
      );
    }
    await this.config.cache?.put(key, bytes);
    return bytes;
  }
}
