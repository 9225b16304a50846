import type { ChunkCache } from './chunk-cache.js';

/** The Cache Storage cache agentgpu keeps model chunks in. */
export const MODEL_CACHE_NAME = 'agentgpu-models';

// Cache Storage only takes http(s) requests as keys, so each key becomes a query on a host that
// cannot exist (.invalid is reserved), never fetched.
const keyUrl = (key: string) => `https://agentgpu.invalid/chunk?key=${encodeURIComponent(key)}`;

/** Whether this context has Cache Storage (browsers and workers in secure contexts do). */
export function hasCacheStorage(): boolean {
  return typeof caches !== 'undefined';
}

/**
 * Model chunks in Cache Storage (`caches.open(name)`), in a page, a worker or a service worker.
 * Each chunk is one Response; a put is atomic (an entry appears only once its body is stored),
 * and a full quota rejects the put with QuotaExceededError.
 */
export function cacheStorageChunkCache(name = MODEL_CACHE_NAME): ChunkCache {
  let opened: Promise<Cache> | undefined;
  const open = () => (opened ??= caches.open(name));
  return {
    async get(key) {
      const response = await (await open()).match(keyUrl(key));
      return response ? new Uint8Array(await response.arrayBuffer()) : undefined;
    },
    async put(key, bytes) {
      const body = new Blob([bytes as Uint8Array<ArrayBuffer>]);
      await (await open()).put(keyUrl(key), new Response(body));
    },
  };
}
