import { fileSource } from './blob.js';
import { memorySource, type ModelSource } from './source.js';
import { urlSource, type UrlSourceOptions } from './url.js';

/** What a model can be opened from: a URL (a string is one), a File or Blob, or bytes. */
export type ModelInput = string | URL | Blob | Uint8Array;

/**
 * Opens a model in a browser or worker: a string or URL is fetched with Range requests (and
 * cached in Cache Storage unless `options.cache` says otherwise), a File or Blob is sliced, bytes
 * are read in place. `options` applies to URLs. (Node: the `agentgpu/node` variant also takes
 * paths.)
 */
export async function openModelSource(
  input: ModelInput,
  options: UrlSourceOptions = {},
): Promise<ModelSource> {
  if (input instanceof Uint8Array) return memorySource(input);
  if (input instanceof Blob) return fileSource(input);
  return urlSource(input, options);
}
