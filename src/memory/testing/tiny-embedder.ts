// A small seeded sentence-embedding model built at test time, shaped like a BERT export such as
// all-MiniLM-L6-v2's: inputs input_ids, attention_mask and token_type_ids ([batch, sequence],
// int64), output last_hidden_state ([batch, sequence, dim]) — here tanh((word + type) · W),
// zeroed where the mask is 0 — with a WordPiece tokenizer.json (BERT normalizer and
// pre-tokenizer, [CLS] … [SEP]). Its vectors mean nothing; their arithmetic is checked against
// embedReference().
import { Rng } from '../../util/rng.js';
import { writeOnnx } from '../../testing/onnx-writer.js';

export interface TinyEmbedder {
  /** model.onnx's bytes. */
  model: Uint8Array;
  /** tokenizer.json's object. */
  tokenizer: Record<string, unknown>;
  vocab: Map<string, number>;
  dim: number;
  words: Float32Array;
  types: Float32Array;
  w: Float32Array;
}

const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const WORDS = ['the', 'a', 'my', 'is', 'and', 'of', 'to', 'in', 'what', 'remember', 'this'];

export function tinyEmbedder(options: { seed?: number; dim?: number } = {}): TinyEmbedder {
  const rng = new Rng(options.seed ?? 7);
  const dim = options.dim ?? 32;
  const letters = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
  const punctuation = '.,:;!?\'"()-'.split('');
  const pieces = [
    ...SPECIAL,
    ...WORDS,
    ...letters,
    ...letters.map((l) => `##${l}`),
    ...punctuation,
  ];
  const vocab = new Map(pieces.map((p, i) => [p, i]));
  const words = rng.floats(vocab.size * dim, 1);
  const types = rng.floats(2 * dim, 0.1);
  const w = rng.floats(dim * dim, 1 / Math.sqrt(dim));
  const ids = { name: 'input_ids', type: 'int64' as const, shape: ['batch', 'sequence'] };
  const model = writeOnnx({
    inputs: [ids, { ...ids, name: 'attention_mask' }, { ...ids, name: 'token_type_ids' }],
    outputs: [{ name: 'last_hidden_state', type: 'float', shape: ['batch', 'sequence', dim] }],
    initializers: [
      { name: 'word_embeddings', type: 'float', dims: [vocab.size, dim], data: words },
      { name: 'token_type_embeddings', type: 'float', dims: [2, dim], data: types },
      { name: 'dense', type: 'float', dims: [dim, dim], data: w },
      { name: 'last_axis', type: 'int64', dims: [1], data: BigInt64Array.of(-1n) },
    ],
    nodes: [
      { op: 'Gather', inputs: ['word_embeddings', 'input_ids'], outputs: ['we'] },
      { op: 'Gather', inputs: ['token_type_embeddings', 'token_type_ids'], outputs: ['te'] },
      { op: 'Add', inputs: ['we', 'te'], outputs: ['e'] },
      { op: 'MatMul', inputs: ['e', 'dense'], outputs: ['h'] },
      { op: 'Tanh', inputs: ['h'], outputs: ['t'] },
      { op: 'Cast', inputs: ['attention_mask'], outputs: ['maskf'], attributes: { to: 1 } },
      { op: 'Unsqueeze', inputs: ['maskf', 'last_axis'], outputs: ['mask3'] },
      { op: 'Mul', inputs: ['t', 'mask3'], outputs: ['last_hidden_state'] },
    ],
  });
  const special = (token: string) => ({ id: token, ids: [vocab.get(token)], tokens: [token] });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content) => ({
      id: vocab.get(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: { '[CLS]': special('[CLS]'), '[SEP]': special('[SEP]') },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab),
    },
  };
  return { model, tokenizer, vocab, dim, words, types, w };
}

/**
 * The sentence embedding of token ids on the CPU: the model's hidden states mean-pooled over
 * the tokens, L2-normalized (sentence-transformers' mean pooling).
 */
export function embedReference(m: TinyEmbedder, ids: readonly number[]): Float32Array {
  const { dim } = m;
  const sum = new Float64Array(dim);
  for (const id of ids) {
    for (let j = 0; j < dim; j++) {
      let h = 0;
      for (let i = 0; i < dim; i++) h += (m.words[id * dim + i] + m.types[i]) * m.w[i * dim + j];
      sum[j] += Math.tanh(h);
    }
  }
  const mean = Float32Array.from(sum, (s) => s / ids.length);
  const norm = Math.hypot(...mean);
  return mean.map((v) => v / norm);
}
