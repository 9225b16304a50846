import { GgufError } from '../errors.js';
import type { ModelConfig } from './config.js';
import type { GgufFile } from './gguf/types.js';

// Every tensor's shape against what the metadata says it must be, before any byte is read:
// a file whose heads, widths, feed-forward, vocabulary or block count disagree with its
// tensors is refused, naming the tensor, instead of loading and computing garbage (WebGPU
// absorbs out-of-range reads without an error).

/** The dims (GGUF order: the row length first) each tensor must have, by name. */
function expectedShapes(c: ModelConfig, embeddingRows: number): Map<string, number[]> {
  const E = c.embedding;
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  const shapes = new Map<string, number[]>([
    ['token_embd.weight', [E, embeddingRows]],
    ['output_norm.weight', [E]],
  ]);
  for (let l = 0; l < c.layers; l++) {
    const b = `blk.${l}`;
    const add = (name: string, dims: number[]) => shapes.set(`${b}.${name}`, dims);
    add('attn_norm.weight', [E]);
    add('attn_q.weight', [E, q]);
    add('attn_k.weight', [E, kv]);
    add('attn_v.weight', [E, kv]);
    add('attn_q.bias', [q]);
    add('attn_k.bias', [kv]);
    add('attn_v.bias', [kv]);
    add('attn_q_norm.weight', [c.headDim]);
    add('attn_k_norm.weight', [c.headDim]);
    add('attn_output.weight', [q, E]);
    add('post_attention_norm.weight', [E]);
    add('ffn_norm.weight', [E]);
    add('ffn_gate.weight', [E, c.feedForward]);
    add('ffn_up.weight', [E, c.feedForward]);
    add('ffn_down.weight', [c.feedForward, E]);
    add('post_ffw_norm.weight', [E]);
  }
  return shapes;
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
  const expected = expectedShapes(c, rows);
  for (const t of file.tensors) {
    const layer = /^blk\.(\d+)\./.exec(t.name);
    if (layer && Number(layer[1]) >= c.layers) {
      throw new GgufError(
        `tensor "${t.name}"`,
        0,
        `is in layer ${layer[1]}, past the ${c.layers} of ${c.architecture}.block_count`,
      );
    }
    const dims = expected.get(t.name);
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
