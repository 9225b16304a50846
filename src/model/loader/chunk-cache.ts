// Where downloaded chunks of a model are kept so the next load is local: Cache Storage in a
// browser or worker (cache-storage.ts), a directory in Node (directory-cache.ts). A cache holds
// whole chunks only; what it returns is checked against the expected length before use.

/** Byte blobs by string key. `get` gives undefined for a miss; `put` may throw (storage full). */
export interface ChunkCache {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

/** What a URL's cached chunks were read from: chunks of another size or version do not mix. */
export interface CachedFile {
  size: number;
  etag: string | undefined;
}

/** The entry that remembers a URL's size and version, so a cached load needs no request. */
export function metaKey(url: string): string {
  return `${url} meta`;
}

export function chunkKey(url: string, file: CachedFile, chunkSize: number, index: number): string {
  return `${url} size=${file.size} etag=${file.etag ?? ''} chunk=${chunkSize}:${index}`;
}

export function encodeMeta(file: CachedFile): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(file));
}

/** The meta entry, or undefined when it is missing or not what encodeMeta wrote. */
export function decodeMeta(bytes: Uint8Array | undefined): CachedFile | undefined {
  if (!bytes) return undefined;
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof value !== 'object' || value === null) return undefined;
    const { size, etag } = value as Record<string, unknown>;
    if (!Number.isSafeInteger(size) || (size as number) < 0) return undefined;
    if (etag !== undefined && etag !== null && typeof etag !== 'string') return undefined;
    return { size: size as number, etag: typeof etag === 'string' ? etag : undefined };
  } catch {
    return undefined;
  }
}

/**
 * A cache that never fails the load: a failed get is a miss, and the first failed put (storage
 * full, quota exceeded, no permission) is reported once and turns further puts off, so the rest
 * of the load goes on uncached.
 */
export function forgivingCache(
  cache: ChunkCache,
  report: (error: unknown) => void = (error) =>
    console.warn(
      `agentgpu: the model cache failed (${error instanceof Error ? error.message : String(error)}); ` +
        'loading goes on without caching: free some storage to cache models',
    ),
): ChunkCache {
  let reported = false;
  let writable = true;
  const once = (error: unknown) => {
    if (reported) return;
    reported = true;
    report(error);
  };
  return {
    async get(key) {
      try {
        return await cache.get(key);
      } catch (error) {
        once(error);
        return undefined;
      }
    },
    async put(key, bytes) {
      if (!writable) return;
      try {
        await cache.put(key, bytes);
      } catch (error) {
        writable = false;
        once(error);
      }
    },
  };
}
