// Long-term agent memory: IndexedDB stores, hybrid retrieval, prompts that say what they recall.
export {
  MemoryStore,
  type ForgetWhat,
  type MemoryExport,
  type MemoryStoreOptions,
} from './store.js';
export {
  MemoryIndex,
  words,
  type IndexedItem,
  type SearchHit,
  type SearchOptions,
} from './search.js';
export { memoryLines, memoryPrompt, type MemoryInclusion, type MemoryPrompt } from './prompt.js';
export {
  SCHEMA_VERSION,
  type AgentRecord,
  type EmbeddingRecord,
  type EpisodeRecord,
  type FactRecord,
  type MemoryKind,
  type Provenance,
  type SummaryRecord,
  type ToolResultRecord,
} from './schema.js';
export { loadEmbedder, type LoadedEmbedder } from './embedder.js';
// OnnxEmbedder itself (onnxruntime-web in the calling thread) is the Node entry's and the
// embedding worker's: a page gets it through loadEmbedder.
export type { Embedder, OnnxBackend, OnnxEmbedderOptions } from './onnx-embedder.js';
export { normalize } from '../util/vector.js';
