/// <reference types="@webgpu/types" preserve="true" />
// agentgpu, Node entry: the runtime on Dawn (the `webgpu` package), SwiftShader fallback included.
export * from '../runtime.js';
export { acquireNodeGpu, type NodeGpuOptions } from './gpu.js';
export { fileShaderSource, packageShaderDir } from './shader-files.js';
export * from '../model/loader/node.js';
export { createEngine, spawnNodeHost, type NodeEngineOptions } from './engine.js';
export * from '../coordinator/index.js';
export { serve, type EdgeServer, type ServeOptions } from './server.js';
export { OnnxEmbedder, type Embedder, type OnnxEmbedderOptions } from '../memory/onnx-embedder.js';
export * from '../offload/index.js';
