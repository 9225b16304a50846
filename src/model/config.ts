import { GgufError } from '../errors.js';
import type { GgufFile, GgufValue } from './gguf/types.js';
import type { YarnConfig } from '../kernels/rope-angles.js';
import { architectures, type Architecture } from './arch/index.js';

/**
 * The architectures agentgpu runs, each a module of src/model/arch/: Llama 2/3.x, SmolLM2,
 * TinyLlama, Mistral; Qwen2/2.5; Qwen3; Phi-3/3.5/4-mini; Gemma 2 and 3.
 */
export type { Architecture };

/** A decoder's shape and constants, from GGUF metadata (`<arch>.*` keys). */
export interface ModelConfig {
  architecture: Architecture;
  name: string;
  vocabSize: number;
  contextLength: number;
  embedding: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  feedForward: number;
  rmsEps: number;
  ropeDims: number;
  ropeBase: number;
  /** Linear position scaling (1 / factor); 1 when none. */
  ropeScale: number;
  yarn?: YarnConfig;
  /** NeoX-ordered RoPE pairs (qwen2, qwen3, phi3), or adjacent pairs (llama). */
  ropeNeox: boolean;
  /** No output.weight: logits use token_embd. */
  tiedEmbeddings: boolean;
  /** q/k/v biases (qwen2). */
  qkvBias: boolean;
  /** RMSNorm of q and k per head (qwen3). */
  qkNorm: boolean;
  /** Multiplies the embeddings before the first layer: sqrt(width) for Gemma, else 1. */
  embeddingScale: number;
  /** The feed-forward gate: SwiGLU's silu, or GeGLU's gelu (Gemma). */
  activation: 'silu' | 'gelu';
  /** Attention scores become attnSoftcap * tanh(score / attnSoftcap) (Gemma 2); 0: not. */
  attnSoftcap: number;
  /** The logits, likewise (Gemma 2); 0: not. */
  finalSoftcap: number;
  /** Keys a local layer attends to (0: none local), and which layers are (isLocalLayer). */
  slidingWindow: number;
  swaPattern: number;
  /** The local layers' RoPE base when it is not ropeBase (Gemma 3: 10000), unscaled; else 0. */
  ropeLocalBase: number;
}

/** Whether layer `l` attends over the sliding window only (llama.cpp's set_swa_pattern). */
export function isLocalLayer(c: ModelConfig, l: number): boolean {
  return c.slidingWindow > 0 && c.swaPattern > 1 && l % c.swaPattern < c.swaPattern - 1;
}

function numberKey(m: ReadonlyMap<string, GgufValue>, key: string, fallback?: number): number {
  const v = m.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new GgufError(`metadata "${key}"`, 0, 'missing, and the architecture needs it');
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    const got = typeof v === 'number' ? String(v) : typeof v;
    throw new GgufError(`metadata "${key}"`, 0, `must be a finite number, got ${got}`);
  }
  return v;
}

export function modelConfig(file: GgufFile): ModelConfig {
  const m = file.metadata;
  const arch = m.get('general.architecture');
  const spec = typeof arch === 'string' ? architectures.get(arch) : undefined;
  if (!spec) {
    throw new GgufError(
      'metadata "general.architecture"',
      0,
      `architecture "${String(arch)}" is not supported ` +
        `(supported: ${[...architectures.keys()].join(', ')})`,
    );
  }
  const a = spec.name;
  const tokens = m.get('tokenizer.ggml.tokens');
  const embedding = numberKey(m, `${a}.embedding_length`);
  const heads = numberKey(m, `${a}.attention.head_count`);
  const headDim = numberKey(m, `${a}.attention.key_length`, embedding / heads);
  const scalingType = m.get(`${a}.rope.scaling.type`);
  const factor = numberKey(m, `${a}.rope.scaling.factor`, 0);
  const scale = factor > 0 && scalingType !== 'none' ? 1 / factor : 1;
  // llama.cpp scales cos and sin by rope.scaling.attn_factor whatever the scaling (phi3's
  // LongRoPE sets it): without YaRN, as a YaRN that never extrapolates.
  const attnFactor = numberKey(m, `${a}.rope.scaling.attn_factor`, 1);
  const yarn =
    scalingType === 'yarn'
      ? {
          origContext: numberKey(m, `${a}.rope.scaling.original_context_length`),
          extFactor: numberKey(m, `${a}.rope.scaling.yarn_ext_factor`, 1),
          attnFactor,
          betaFast: numberKey(m, `${a}.rope.scaling.yarn_beta_fast`, 32),
          betaSlow: numberKey(m, `${a}.rope.scaling.yarn_beta_slow`, 1),
        }
      : attnFactor !== 1
        ? { origContext: numberKey(m, `${a}.context_length`), extFactor: 0, attnFactor }
        : undefined;
  const config: ModelConfig = {
    architecture: a,
    name: typeof m.get('general.name') === 'string' ? (m.get('general.name') as string) : a,
    vocabSize: Array.isArray(tokens) ? tokens.length : numberKey(m, `${a}.vocab_size`),
    contextLength: numberKey(m, `${a}.context_length`),
    embedding,
    layers: numberKey(m, `${a}.block_count`),
    heads,
    kvHeads: numberKey(m, `${a}.attention.head_count_kv`, heads),
    headDim,
    feedForward: numberKey(m, `${a}.feed_forward_length`),
    rmsEps: numberKey(m, `${a}.attention.layer_norm_rms_epsilon`),
    ropeDims: numberKey(m, `${a}.rope.dimension_count`, headDim),
    ropeBase: numberKey(m, `${a}.rope.freq_base`, 10000),
    ropeScale: scale,
    yarn,
    ropeNeox: spec.ropeNeox,
    tiedEmbeddings: !file.tensors.some((t) => t.name === 'output.weight'),
    qkvBias: file.tensors.some((t) => t.name === 'blk.0.attn_q.bias'),
    qkNorm: file.tensors.some((t) => t.name === 'blk.0.attn_q_norm.weight'),
    embeddingScale: spec.scaleEmbedding ? Math.fround(Math.sqrt(embedding)) : 1,
    activation: spec.activation ?? 'silu',
    attnSoftcap: numberKey(m, `${a}.attn_logit_softcapping`, 0),
    finalSoftcap: numberKey(m, `${a}.final_logit_softcapping`, 0),
    slidingWindow: spec.swaPattern ? numberKey(m, `${a}.attention.sliding_window`, 0) : 0,
    swaPattern: spec.swaPattern
      ? numberKey(m, `${a}.attention.sliding_window_pattern`, spec.swaPattern)
      : 0,
    ropeLocalBase: spec.localRopeBase
      ? numberKey(m, `${a}.rope.freq_base_swa`, spec.localRopeBase)
      : 0,
  };
  checkConfig(config);
  return config;
}

/**
 * The hyperparameters a decoder can be built from: whole positive counts, heads that group,
 * rotated dims within a head, a positive epsilon. A file that breaks one is refused here,
 * naming the key, instead of failing inside a kernel (or computing garbage).
 */
function checkConfig(c: ModelConfig): void {
  const a = c.architecture;
  const fail = (key: string, problem: string) => {
    throw new GgufError(`metadata "${a}.${key}"`, 0, problem);
  };
  if (!Number.isInteger(c.headDim) && c.embedding > 0 && c.heads > 0) {
    fail(
      'attention.head_count',
      `${c.heads} heads do not divide the embedding of ${c.embedding} (and no key_length says the head dim)`,
    );
  }
  const counts: [string, number][] = [
    ['embedding_length', c.embedding],
    ['block_count', c.layers],
    ['attention.head_count', c.heads],
    ['attention.head_count_kv', c.kvHeads],
    ['attention.key_length', c.headDim],
    ['feed_forward_length', c.feedForward],
    ['context_length', c.contextLength],
  ];
  for (const [key, v] of counts) {
    if (!(Number.isInteger(v) && v > 0)) fail(key, `must be a whole number above 0, got ${v}`);
  }
  if (!(c.vocabSize > 0)) fail('vocab_size', 'the file has no vocabulary (tokenizer.ggml.tokens)');
  if (c.heads % c.kvHeads !== 0) {
    fail('attention.head_count_kv', `${c.kvHeads} does not divide ${c.heads} heads`);
  }
  if (c.headDim % 2 !== 0 || c.headDim > 512) {
    fail(
      'attention.key_length',
      `heads of ${c.headDim} values: agentgpu runs even head dims up to 512`,
    );
  }
  if (!(
    Number.isInteger(c.ropeDims) &&
    c.ropeDims > 0 &&
    c.ropeDims % 2 === 0 &&
    c.ropeDims <= c.headDim
  )) {
    fail(
      'rope.dimension_count',
      `${c.ropeDims} rotated dims: must be even, above 0 and at most the head's ${c.headDim}`,
    );
  }
  if (!(c.rmsEps > 0 && c.rmsEps < 1)) {
    fail('attention.layer_norm_rms_epsilon', `must be between 0 and 1, got ${c.rmsEps}`);
  }
  if (!(c.ropeBase > 0)) fail('rope.freq_base', `must be above 0, got ${c.ropeBase}`);
}
