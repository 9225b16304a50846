// Model byte sources that run anywhere (browser, worker, Node); path.ts, directory-cache.ts and
// node.ts are Node only and reach users through the Node entry.
export { fileSource } from './blob.js';
export { cacheStorageChunkCache, MODEL_CACHE_NAME } from './cache-storage.js';
export type { ChunkCache } from './chunk-cache.js';
export { openModelSource, type ModelInput } from './open.js';
export {
  memorySource,
  type ByteSource,
  type LoadProgress,
  type ModelLoadProgress,
  type ModelSource,
} from './source.js';
export { urlSource, URL_CHUNK_SIZE, type UrlSourceOptions } from './url.js';
