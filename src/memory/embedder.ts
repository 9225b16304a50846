import * as Comlink from 'comlink';
import { installErrorTransfer } from '../worker/transfer.js';
import type { EmbeddingWorkerApi } from './embedding-worker.js';
import { OnnxEmbedder, type Embedder, type OnnxEmbedderOptions } from './onnx-embedder.js';

/** An embedder and the backend its model runs on. */
export interface LoadedEmbedder extends Embedder {
  readonly backend: string;
}

/**
 * Loads a sentence-embedding ONNX model (by URL or bytes) for memory retrieval. In a page it
 * runs in its own Web Worker (onnxruntime-web with WebGPU where the worker has it, wasm
 * otherwise); elsewhere (Node, a worker already) in the calling thread.
 */
export async function loadEmbedder(options: OnnxEmbedderOptions): Promise<LoadedEmbedder> {
  const page = typeof window !== 'undefined' && typeof Worker !== 'undefined';
  if (!page) return OnnxEmbedder.load(options);
  installErrorTransfer();
  const worker = new Worker(new URL('./embedding-worker.ts', import.meta.url), {
    type: 'module',
    name: 'agentgpu-embedder',
  });
  const remote = Comlink.wrap<EmbeddingWorkerApi>(worker);
  const failed = new Promise<never>((_, reject) =>
    worker.addEventListener('error', (e) =>
      reject(new Error(`the embedding worker failed: ${e.message || 'an uncaught error'}`)),
    ),
  );
  failed.catch(() => {});
  try {
    const { id, backend } = await Promise.race([remote.load(options), failed]);
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
