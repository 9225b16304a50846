// The embedding worker: one ONNX sentence-embedding model, run by onnxruntime-web off the
// page's thread. `embedder()` (embedder.ts) starts it and speaks to it through comlink.
import * as Comlink from 'comlink';
import { installErrorTransfer } from '../worker/transfer.js';
import { OnnxEmbedder, type OnnxEmbedderOptions } from './onnx-embedder.js';

export class EmbeddingWorkerApi {
  private model?: OnnxEmbedder;

  async load(options: OnnxEmbedderOptions): Promise<{ id: string; backend: string }> {
    this.model?.close();
    this.model = await OnnxEmbedder.load(options);
    return { id: this.model.id, backend: this.model.backend };
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (!this.model) throw new Error('the embedding worker has no model: load() one first');
    const vectors = await this.model.embed(texts);
    return Comlink.transfer(
      vectors,
      vectors.map((v) => v.buffer as ArrayBuffer),
    );
  }
}

installErrorTransfer();
Comlink.expose(new EmbeddingWorkerApi());
