import { fileURLToPath } from 'node:url';
import { fileSource } from './blob.js';
import { directoryChunkCache } from './directory-cache.js';
import type { ModelInput } from './open.js';
import { pathSource } from './path.js';
import { memorySource, type ModelSource } from './source.js';
import { urlSource, type UrlSourceOptions } from './url.js';

// The loaders for the Node entry: the browser-safe ones, plus paths and the directory cache.

export { fileSource } from './blob.js';
export { directoryChunkCache, defaultCacheDir } from './directory-cache.js';
export { pathSource } from './path.js';
export {
  memorySource,
  type ByteSource,
  type LoadProgress,
  type ModelLoadProgress,
  type ModelSource,
} from './source.js';
export { urlSource, URL_CHUNK_SIZE, type UrlSourceOptions } from './url.js';
export type { ChunkCache } from './chunk-cache.js';
export type { ModelInput } from './open.js';

export interface NodeModelSourceOptions extends UrlSourceOptions {
  /** Where URLs are cached when `cache` is not given (defaultCacheDir()). */
  cacheDir?: string;
}

/**
 * Opens a model in Node: an http(s) URL is fetched with Range requests and cached in a directory
 * (`cacheDir`, else defaultCacheDir(); `cache: false` for none), a `file:` URL or any other
 * string is a path, a Blob is sliced, bytes are read in place.
 */
export async function openModelSource(
  input: ModelInput,
  options: NodeModelSourceOptions = {},
): Promise<ModelSource> {
  if (input instanceof Uint8Array) return memorySource(input);
  if (input instanceof Blob) return fileSource(input);
  const url =
    input instanceof URL ? input : /^(https?|file):/i.test(input) ? new URL(input) : undefined;
  if (!url) return pathSource(input as string);
  if (url.protocol === 'file:') return pathSource(fileURLToPath(url));
  const cache = options.cache ?? directoryChunkCache(options.cacheDir);
  return urlSource(url, { ...options, cache });
}
