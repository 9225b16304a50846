import { GgufError } from '../errors.js';
import type { ModelConfig } from './config.js';
import type { GgufFile } from './gguf/types.js';

// Every tensor's shape against what the metadata says it must be, before any byte is read:
// a file whose heads, widths, feed-forward, vocabulary or block count disagree with its
// tensors is refused, naming the tensor, instead of loading and computing garbage (WebGPU
// absorbs out-of-range reads without an error).

/**
 * The dims (GGUF order: the row length first) a tensor must have, by name (a layer's by the
 * part after `blk.N.`: every layer's are alike, however many block_count states).
 */
function expectedShapes(
  c: ModelConfig,
  embeddingRows: number,
): { top: Map<string, number[]>; layer: Map<string, number[]> } {
  const E = c.embedding;
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const top = new Map<string, number[]>([
    ['token_embd.weight', [E, embeddingRows]],
    ['output_norm.weight', [E]],
  ]);
  const layer = new Map<string, number[]>([
    ['attn_norm.weight', [E]],
    ['attn_q.weight', [E, q]],
    ['attn_k.weight', [E, kv]],
    ['attn_v.weight', [E, kv]],
    ['attn_q.bias', [q]],
    ['attn_k.bias', [kv]],
    ['attn_v.bias', [kv]],
    ['attn_q_norm.weight', [c.headDim]],
    ['attn_k_norm.weight', [c.headDim]],
    ['attn_output.weight', [q, E]],
    ['post_attention_norm.weight', [E]],
    ['ffn_norm.weight', [E]],
    ['ffn_gate.weight', [E, c.feedForward]],
    ['ffn_up.weight', [E, c.feedForward]],
    ['ffn_down.weight', [c.feedForward, E]],
    ['post_ffw_norm.weight', [E]],
  ]);
  return { top, layer };
}

/**
 * Throws a GgufError naming the first tensor whose shape the metadata contradicts, a layer
 * past block_count, or a vocabulary (or special token id) the embedding has no row for.
 * `file`: with fused tensors already split into their parts (splitFused).
 */
export function checkTensorShapes(file: GgufFile, c: ModelConfig): void {
  const embedding = file.tensors.find((t) => t.name === 'token_embd.weight');
  if (!embedding)
    throw new GgufError('tensor "token_embd.weight"', 0, 'missing: the file has no embeddings');
  const rows = embedding.dims[1] ?? 0;
  if (rows < c.vocabSize) {
    throw new GgufError(
      'tensor "token_embd.weight"',
      0,
      `has ${rows} rows, fewer than the ${c.vocabSize} tokens of the vocabulary: some tokens have no embedding`,
    );
  }
  for (const key of ['bos', 'eos', 'unknown', 'padding', 'eot']) {
    const id = file.metadata.get(`tokenizer.ggml.${key}_token_id`);
    if (typeof id === 'number' && !(id >= 0 && id < c.vocabSize)) {
      throw new GgufError(
        `metadata "tokenizer.ggml.${key}_token_id"`,
        0,
        `${id} is not a token of the ${c.vocabSize}-token vocabulary`,
      );
    }
  }
  const output = file.tensors.find((t) => t.name === 'output.weight');
  if (
    output &&
    !(output.dims.length === 2 && output.dims[0] === c.embedding && output.dims[1] >= c.vocabSize)
  ) {
    throw new GgufError(
      'tensor "output.weight"',
      0,
      `has dims [${output.dims.join(', ')}]: it must be [${c.embedding}, at least ${c.vocabSize}]`,
    );
  }
  // Layers past the file's (a block_count of 2^40 would have every layer's buffers sized).
  const present = file.tensors.reduce(
    (n, t) => Math.max(n, Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1) + 1),
    0,
  );
  if (c.layers > present) {
    throw new GgufError(
      `metadata "${c.architecture}.block_count"`,
      0,
      `says ${c.layers} layers, but the file has tensors for ${present}`,
    );
  }
  const expected = expectedShapes(c, rows);
  for (const t of file.tensors) {
    const layer = /^blk\.(\d+)\.(.*)$/.exec(t.name);
    if (layer && Number(layer[1]) >= c.layers) {
      throw new GgufError(
        `tensor "${t.name}"`,
        0,
        `is in layer ${layer[1]}, past the ${c.layers} of ${c.architecture}.block_count`,
      );
    }
    const dims = layer ? expected.layer.get(layer[2]) : expected.top.get(t.name);
    if (!dims) continue;
    const same = t.dims.length === dims.length && t.dims.every((d, i) => d === dims[i]);
    if (!same) {
      throw new GgufError(
        `tensor "${t.name}"`,
        0,
        `has dims [${t.dims.join(', ')}] where the metadata (embedding ${c.embedding}, heads ` +
          `${c.heads}/${c.kvHeads} of ${c.headDim}, feed-forward ${c.feedForward}) says ` +
          `[${dims.join(', ')}]`,
      );
    }
  }
}
