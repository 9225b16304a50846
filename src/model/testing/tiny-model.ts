import { GgmlType, quantFormats, randomBlocks, type QuantName } from '../../quant/index.js';
import { F32 } from '../../quant/float.js';
import { Rng } from '../../util/rng.js';
import { writeGguf, type GgufWriteTensor, type GgufWriteValue } from '../gguf/writer.js';
import { learnBpe, learnSpm } from './bpe-vocab.js';
import type { Architecture } from '../arch/index.js';

// Small seeded GGUF models for the tests: real architectures (llama, qwen2, qwen3, phi3, gemma2,
// gemma3) with random
// weights and a byte-level BPE vocabulary, small enough to run on SwiftShader, and loadable by
// llama.cpp (node-llama-cpp), which the runtime is checked against. Generated, never committed.

export type TinyArchitecture = Architecture;

/** A BPE vocabulary's special tokens (its first ids), BOS and EOS among them, and its pre. */
export interface TinySpecials {
  tokens: string[];
  bos: string;
  eos: string;
  pre: string;
}

export interface TinyModelOptions {
  architecture?: TinyArchitecture;
  /** Format of the 2-D weights (norms and biases stay F32). */
  weights?: QuantName;
  seed?: number;
  layers?: number;
  /** Model width; a multiple of 256 so every K-quant applies. */
  embedding?: number;
  feedForward?: number;
  heads?: number;
  kvHeads?: number;
  /** No output.weight: the logits use token_embd (tied embeddings). */
  tiedEmbeddings?: boolean;
  merges?: number;
  /**
   * Scale of the residual branches' output projections (attn_output, ffn_down), 1 by default.
   * Small branches keep a last-bit difference from cascading through 8-bit matmul inputs (the
   * quantized parity checks against llama.cpp use 0.1).
   */
  residualScale?: number;
  /** The context length the metadata states (default 512). */
  contextLength?: number;
  /** Byte-level BPE (default) or a SentencePiece-style vocabulary (llama only). */
  tokenizer?: 'bpe' | 'spm';
  /** Override the BPE pre-tokenizer name (tokenizer.ggml.pre). */
  pre?: string;
  /**
   * tokenizer.ggml.add_bos_token (BPE; default: true for llama, false for qwen), or 'unset' to
   * leave it out so the pre-tokenizer's default applies.
   */
  addBos?: boolean | 'unset';
  /** Tokens appended to a BPE vocabulary with their GGUF types (4 user-defined, 2 unknown). */
  extraTokens?: { text: string; type: number }[];
  /**
   * Pad a BPE vocabulary to this many tokens with unused ones, as real files pad theirs
   * (Qwen2.5: 151,936 rows). The embedding of a large vocabulary is random blocks, not a
   * quantization (quantizing it in JS would take minutes).
   */
  vocabSize?: number;
  /** A tensor's format other than `weights` (real files mix them: Q4_K_M). */
  tensorType?: (name: string, layer: number) => QuantName | undefined;
  /** States `<arch>.pooling_type` (llama.cpp's embedding pooling: 1 mean, 2 cls, 3 last). */
  pooling?: number;
  /** Rotated dims per head (default the whole head; Phi-4-mini rotates 3/4). */
  ropeDims?: number;
  /** Values per head (default embedding / heads; Gemma 2's and Qwen3's are not). */
  headDim?: number;
  /** gemma2, gemma3: keys their local layers attend to (default 4096, as Gemma 2's). */
  slidingWindow?: number;
  /** gemma3: attention.sliding_window_pattern (unset: llama.cpp's 6, every sixth layer global). */
  slidingWindowPattern?: number;
  /**
   * phi3: LongRoPE's rope.scaling.original_context_length (default 4096): past it, the context
   * in use takes rope_factors_long instead of rope_factors_short.
   */
  originalContext?: number;
  /**
   * The vocabulary's special tokens and pre-tokenizer (default: the architecture's family's,
   * Llama 3's for an architecture with none of its own here).
   */
  specials?: TinySpecials;
  /** Metadata written over what the options make (malformed files, for the load checks). */
  metadata?: Record<string, GgufWriteValue>;
  /** rope.freq_base (default 500,000 for llama, as Llama 3's; 1e6 for qwen2 and qwen3). */
  ropeBase?: number;
  /**
   * llama: Llama 3.1's RoPE scaling as the converter writes it, a rope_freqs.weight tensor of
   * per-pair divisors (factor, low and high frequency factors, original context), as
   * Llama-3.2-1B's file holds it (32, 1, 4, 8192).
   */
  llama3Rope?: { factor: number; lowFreqFactor: number; highFreqFactor: number; original: number };
}

/** Special tokens by architecture family: llama 3's and Qwen's, Phi-3's and Gemma's. */
const SPECIALS: Partial<Record<TinyArchitecture, TinySpecials>> & { llama: TinySpecials } = {
  llama: {
    tokens: [
      '<|begin_of_text|>',
      '<|end_of_text|>',
      '<|start_header_id|>',
      '<|end_header_id|>',
      '<|eot_id|>',
    ],
    bos: '<|begin_of_text|>',
    eos: '<|eot_id|>',
    pre: 'llama-bpe',
  },
  qwen2: {
    tokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    bos: '<|endoftext|>',
    eos: '<|im_end|>',
    pre: 'qwen2',
  },
  qwen3: {
    tokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
    bos: '<|endoftext|>',
    eos: '<|im_end|>',
    pre: 'qwen2',
  },
  phi3: {
    tokens: ['<|endoftext|>', '<|system|>', '<|user|>', '<|assistant|>', '<|end|>'],
    bos: '<|endoftext|>',
    eos: '<|end|>',
    pre: 'default',
  },
  gemma2: {
    tokens: ['<start_of_turn>', '<end_of_turn>'],
    bos: '<start_of_turn>',
    eos: '<end_of_turn>',
    pre: 'default',
  },
  gemma3: {
    tokens: ['<start_of_turn>', '<end_of_turn>'],
    bos: '<start_of_turn>',
    eos: '<end_of_turn>',
    pre: 'default',
  },
};

/** GGUF bytes of a tiny model, and what it was made with. */
export function tinyModel(options: TinyModelOptions = {}): { bytes: Uint8Array; vocab: string[] } {
  const {
    architecture = 'llama',
    weights = 'F32',
    seed = 1,
    layers = 2,
    embedding = 256,
    feedForward = 512,
    heads = 4,
    kvHeads = 2,
    tiedEmbeddings = false,
    merges: mergeCount = 400,
    tokenizer = 'bpe',
    residualScale = 1,
    contextLength = 512,
  } = options;
  const rng = new Rng(seed);
  const headDim = options.headDim ?? embedding / heads;
  const specials = options.specials ?? SPECIALS[architecture] ?? SPECIALS.llama;
  let vocab: string[];
  let tokenizerMetadata: Record<string, GgufWriteValue>;
  if (tokenizer === 'spm') {
    const spm = learnSpm(mergeCount);
    // phi3's and gemma2's SentencePiece vocabularies carry their chat tokens after the
    // learned ones.
    const added = ['phi3', 'gemma2', 'gemma3'].includes(architecture) ? specials.tokens : [];
    vocab = [...spm.tokens, ...added];
    const scores = [...spm.scores, ...added.map(() => 0)];
    const types = [...spm.types, ...added.map(() => 3)];
    for (let i = vocab.length; i < (options.vocabSize ?? 0); i++) {
      vocab.push(`[PAD${i}]`);
      scores.push(0);
      types.push(5);
    }
    tokenizerMetadata = {
      'tokenizer.ggml.model': { type: 'string', value: 'llama' },
      'tokenizer.ggml.tokens': { type: 'array', of: 'string', value: vocab },
      'tokenizer.ggml.scores': { type: 'array', of: 'f32', value: scores },
      'tokenizer.ggml.token_type': { type: 'array', of: 'i32', value: types },
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
      'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
      'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
      'tokenizer.ggml.add_bos_token': { type: 'bool', value: true },
    };
  } else {
    const { tokens: bpeTokens, merges } = learnBpe(mergeCount);
    const extra = options.extraTokens ?? [];
    vocab = [...bpeTokens, ...specials.tokens, ...extra.map((t) => t.text)];
    const types = [
      ...bpeTokens.map(() => 1),
      ...specials.tokens.map(() => 3),
      ...extra.map((t) => t.type),
    ];
    for (let i = vocab.length; i < (options.vocabSize ?? 0); i++) {
      vocab.push(`[PAD${i}]`);
      types.push(5);
    }
    const addBos = options.addBos ?? architecture === 'llama';
    tokenizerMetadata = {
      'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
      'tokenizer.ggml.pre': { type: 'string', value: options.pre ?? specials.pre },
      'tokenizer.ggml.tokens': { type: 'array', of: 'string', value: vocab },
      'tokenizer.ggml.token_type': { type: 'array', of: 'i32', value: types },
      'tokenizer.ggml.merges': { type: 'array', of: 'string', value: merges },
      'tokenizer.ggml.bos_token_id': { type: 'u32', value: vocab.indexOf(specials.bos) },
      'tokenizer.ggml.eos_token_id': { type: 'u32', value: vocab.indexOf(specials.eos) },
      ...(addBos === 'unset'
        ? {}
        : { 'tokenizer.ggml.add_bos_token': { type: 'bool', value: addBos } }),
    };
  }
  const arch = architecture;
  const ropeBase = options.ropeBase ?? (arch === 'llama' ? 500000 : 1000000);
  const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });
  const f32 = (value: number): GgufWriteValue => ({ type: 'f32', value });
  const metadata: Record<string, GgufWriteValue> = {
    'general.architecture': { type: 'string', value: arch },
    'general.name': { type: 'string', value: `agentgpu tiny ${arch} ${weights} seed ${seed}` },
    [`${arch}.context_length`]: u32(contextLength),
    [`${arch}.embedding_length`]: u32(embedding),
    [`${arch}.block_count`]: u32(layers),
    [`${arch}.feed_forward_length`]: u32(feedForward),
    [`${arch}.attention.head_count`]: u32(heads),
    [`${arch}.attention.head_count_kv`]: u32(kvHeads),
    [`${arch}.rope.freq_base`]: f32(ropeBase),
    [`${arch}.attention.layer_norm_rms_epsilon`]: f32(1e-6),
    ...tokenizerMetadata,
  };
  const ropeDims = options.ropeDims ?? headDim;
  if (arch === 'llama' || arch === 'phi3') metadata[`${arch}.rope.dimension_count`] = u32(ropeDims);
  if (arch === 'phi3') {
    // Phi-3.5-mini's LongRoPE keys, and the sliding window llama.cpp reads and does not use.
    metadata['phi3.rope.freq_base'] = f32(10000);
    metadata['phi3.rope.scaling.attn_factor'] = f32(1.190238);
    metadata['phi3.rope.scaling.original_context_length'] = u32(options.originalContext ?? 4096);
    metadata['phi3.attention.sliding_window'] = u32(262144);
  }
  if (options.pooling !== undefined) metadata[`${arch}.pooling_type`] = u32(options.pooling);
  const gemma = arch === 'gemma2' || arch === 'gemma3';
  if (arch === 'qwen3' || gemma || headDim !== embedding / heads) {
    metadata[`${arch}.attention.key_length`] = u32(headDim);
    metadata[`${arch}.attention.value_length`] = u32(headDim);
  }
  if (arch === 'gemma2') {
    // Gemma-2-2B's: soft-capping, and local attention on every other layer.
    metadata['gemma2.rope.freq_base'] = f32(10000);
    metadata['gemma2.attn_logit_softcapping'] = f32(50);
    metadata['gemma2.final_logit_softcapping'] = f32(30);
    metadata['gemma2.attention.sliding_window'] = u32(options.slidingWindow ?? 4096);
  }
  if (arch === 'gemma3') {
    // Gemma-3-1B's: global layers at base 1e6, local ones (llama.cpp's own 10000) over 512 keys.
    metadata['gemma3.attention.sliding_window'] = u32(options.slidingWindow ?? 512);
    if (options.slidingWindowPattern !== undefined) {
      metadata['gemma3.attention.sliding_window_pattern'] = u32(options.slidingWindowPattern);
    }
  }

  const tensors: GgufWriteTensor[] = [];
  const formatOf = (name: string) =>
    options.tensorType?.(name, Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1)) ?? weights;
  // Uniform weights scaled by 1/sqrt(fan-in) keep activations O(1) through the layers.
  const matrix = (name: string, cols: number, rows: number, scale = 1) => {
    const values = rng.floats(rows * cols, scale * Math.sqrt(3 / cols));
    const format = formatOf(name);
    const data = quantFormats[format].quantize(values);
    tensors.push({ name, dims: [cols, rows], type: GgmlType[format], data });
  };
  const vector = (name: string, n: number, around: number, spread: number) => {
    const values = Float32Array.from({ length: n }, () => around + (rng.next() * 2 - 1) * spread);
    tensors.push({ name, dims: [n], type: GgmlType.F32, data: F32.quantize(values) });
  };
  const n = vocab.length;
  // Embeddings of unit-ish scale, as trained models have.
  const embdFormat = quantFormats[formatOf('token_embd.weight')];
  tensors.push({
    name: 'token_embd.weight',
    dims: [embedding, n],
    type: embdFormat.ggmlType,
    data:
      n * embedding > 1 << 24 && embdFormat.blockValues > 1
        ? randomBlocks(embdFormat, n * embedding, seed, 1 / 96)
        : embdFormat.quantize(rng.floats(n * embedding, 1)),
  });
  if (options.llama3Rope) {
    tensors.push({
      name: 'rope_freqs.weight',
      dims: [ropeDims / 2],
      type: GgmlType.F32,
      data: F32.quantize(llama3RopeFactors(ropeBase, ropeDims, options.llama3Rope)),
    });
  }
  if (arch === 'phi3') {
    // LongRoPE's per-pair divisors: 1 and up for the short context, larger for the long one.
    vector('rope_factors_short.weight', ropeDims / 2, 1.2, 0.2);
    vector('rope_factors_long.weight', ropeDims / 2, 6, 5);
  }
  for (let l = 0; l < layers; l++) {
    const b = `blk.${l}`;
    vector(`${b}.attn_norm.weight`, embedding, 1, 0.2);
    if (arch === 'phi3') {
      // q, k and v in one tensor, rows in that order.
      matrix(`${b}.attn_qkv.weight`, embedding, (heads + 2 * kvHeads) * headDim);
    } else {
      matrix(`${b}.attn_q.weight`, embedding, heads * headDim);
      matrix(`${b}.attn_k.weight`, embedding, kvHeads * headDim);
      matrix(`${b}.attn_v.weight`, embedding, kvHeads * headDim);
    }
    if (arch === 'qwen2') {
      vector(`${b}.attn_q.bias`, heads * headDim, 0, 0.1);
      vector(`${b}.attn_k.bias`, kvHeads * headDim, 0, 0.1);
      vector(`${b}.attn_v.bias`, kvHeads * headDim, 0, 0.1);
    }
    if (arch === 'qwen3' || arch === 'gemma3') {
      vector(`${b}.attn_q_norm.weight`, headDim, 1, 0.2);
      vector(`${b}.attn_k_norm.weight`, headDim, 1, 0.2);
    }
    matrix(`${b}.attn_output.weight`, heads * headDim, embedding, residualScale);
    // Gemma 2's post-norms set the branches' scale: residualScale's, as the projections' elsewhere.
    const post = (name: string) => vector(name, embedding, residualScale, 0.2 * residualScale);
    if (gemma) post(`${b}.post_attention_norm.weight`);
    vector(`${b}.ffn_norm.weight`, embedding, 1, 0.2);
    if (arch === 'phi3') {
      // The gate rows, then the up rows, in one tensor.
      matrix(`${b}.ffn_up.weight`, embedding, 2 * feedForward);
    } else {
      matrix(`${b}.ffn_gate.weight`, embedding, feedForward);
      matrix(`${b}.ffn_up.weight`, embedding, feedForward);
    }
    matrix(`${b}.ffn_down.weight`, feedForward, embedding, residualScale);
    if (gemma) post(`${b}.post_ffw_norm.weight`);
  }
  vector('output_norm.weight', embedding, 1, 0.2);
  if (!tiedEmbeddings) matrix('output.weight', embedding, n);
  return { bytes: writeGguf({ ...metadata, ...options.metadata }, tensors), vocab };
}

/**
 * Llama 3.1's per-pair RoPE divisors, as llama.cpp's converter computes rope_freqs from the
 * checkpoint's rope_scaling: 1 for wavelengths under original / high, `factor` over
 * original / low, and a smooth blend between.
 */
export function llama3RopeFactors(
  base: number,
  dims: number,
  s: NonNullable<TinyModelOptions['llama3Rope']>,
): Float32Array {
  const lowWavelength = s.original / s.lowFreqFactor;
  const highWavelength = s.original / s.highFreqFactor;
  return Float32Array.from({ length: dims / 2 }, (_, i) => {
    const freq = 1 / Math.pow(base, (2 * i) / dims);
    const wavelength = (2 * Math.PI) / freq;
    if (wavelength < highWavelength) return 1;
    if (wavelength > lowWavelength) return s.factor;
    const smooth =
      (s.original / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return 1 / ((1 - smooth) / s.factor + smooth);
  });
}
