import * as Comlink from 'comlink';
import { AgentGpuError } from '../errors.js';
import { installErrorTransfer } from '../worker/transfer.js';
import { pageUrl, type CreateWorker } from '../worker/client.js';
import type { EmbeddingWorkerApi } from './embedding-worker.js';
import type { Embedder, OnnxEmbedderOptions } from './onnx-embedder.js';

/** An embedder and the backend its model runs on. */
export interface LoadedEmbedder extends Embedder {
  readonly backend: string;
}

/**
 * Loads a sentence-embedding ONNX model (by URL or bytes) for memory retrieval, in a Web Worker
 * of its own (onnxruntime-web with WebGPU where the worker has it, wasm otherwise), from a page
 * or from another worker. onnxruntime-web is loaded there alone, so an app that never calls
 * this never downloads it. (Node: `OnnxEmbedder.load` from 'agentgpu/node'.)
 */
export async function loadEmbedder(
  options: OnnxEmbedderOptions,
  /** Starts the embedding worker in place of the one agentgpu ships (served from elsewhere). */
  createWorker?: CreateWorker,
): Promise<LoadedEmbedder> {
  if (typeof Worker === 'undefined') {
    throw new AgentGpuError(
      'loadEmbedder runs the model in a Web Worker, and there is no Worker here: in Node, use ' +
        "OnnxEmbedder.load() from 'agentgpu/node'",
    );
  }
  installErrorTransfer();
  const name = 'agentgpu-embedder';
  const worker = createWorker
    ? createWorker(name)
    : new Worker(new URL('./embedding-worker.ts', import.meta.url), { type: 'module', name });
  const remote = Comlink.wrap<EmbeddingWorkerApi>(worker);
  const failed = new Promise<never>((_, reject) =>
    worker.addEventListener('error', (e) =>
      reject(new Error(`the embedding worker failed: ${e.message || 'an uncaught error'}`)),
    ),
  );
  failed.catch(() => {});
  try {
    // URLs as the page means them, not relative to the worker's script.
    const load = {
      ...options,
      model: pageUrl(options.model),
      tokenizer: pageUrl(options.tokenizer),
      tokenizerConfig: pageUrl(options.tokenizerConfig),
    };
    const { id, backend } = await Promise.race([remote.load(load), failed]);
    return {
      id,
      backend,
      embed: (texts) => Promise.race([remote.embed([...texts]), failed]),
      close() {
        remote[Comlink.releaseProxy]();
        worker.terminate();
      },
    };
  } catch (error) {
    worker.terminate();
    throw error;
  }
}
