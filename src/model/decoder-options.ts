import type { KvFormat } from '../kernels/attention.js';
import type { KvEviction, KvFullPolicy, KvOverflow, SlidingWindow } from '../kv/paged-kv-cache.js';
import type { GgufFile } from './gguf/types.js';

export interface DecoderOptions {
  /** The file's header, parsed already by the caller (LanguageModel.load): read once. */
  header?: GgufFile;
  /** Cache capacity in tokens (default: the model's context length, at most 4096). */
  contextSize?: number;
  /** Tokens one forward() may take (default 256): sizes the scratch buffers. */
  maxBatch?: number;
  /**
   * How matmul inputs meet the weights. 'llama.cpp' (default): rounded as llama.cpp rounds
   * them for each weight format (8-bit blocks for quantized weights, f16 for F16; see
   * quant/dot-input.ts), so tokens and logits are llama.cpp's; one small pass per input.
   * 'f32': kept in f32, a little closer to exact math and no extra pass.
   */
  matmulInputs?: 'llama.cpp' | 'f32';
  /**
   * Keep the first `sinks` and the latest `window` tokens (whole blocks of 16), so generation
   * runs on past contextSize in constant memory; positions are cache indices, and the kept keys
   * are rotated back when older ones leave (llama.cpp's context shift).
   */
  window?: SlidingWindow;
  /** Tokens that left the window, after the step that evicted them ran. */
  onOverflow?: (overflow: KvOverflow) => void;
  /**
   * Sequences the cache holds at once (default 1), each up to contextSize tokens: one per
   * sub-agent conversation; forwardBatch() advances several in one step.
   */
  sequences?: number;
  /**
   * How the cache stores K and V: 'f16' (the default where the device has shader-f16) halves
   * f32's bytes, and attention's reads; 'f32' (the default elsewhere) keeps llama.cpp's f32
   * numbers exactly; 'int8' (one scale a row) takes a little over a quarter, at a small cost
   * in accuracy.
   */
  kv?: KvFormat;
  /**
   * Bytes the whole KV cache may take. Below what every sequence's full context needs, the
   * sequences share a smaller pool of blocks; the adapter's largest binding caps it too.
   */
  kvBudget?: number;
  /** When the pool has no free block: throw KvCacheFullError (default) or empty idle sequences. */
  whenFull?: KvFullPolicy;
  /** Each idle sequence emptied to make room for another (whenFull 'evict-idle'). */
  onEvict?: (eviction: KvEviction) => void;
  /** Weight bytes written to GPU buffers, then kernels built, as the load goes. */
  onLoadProgress?: (progress: DecoderLoadProgress) => void;
}

/** How far Decoder.load has come: weight bytes uploaded, then kernels compiled. */
export interface DecoderLoadProgress {
  phase: 'upload' | 'compile';
  loaded: number;
  total: number;
}

/** One sequence's tokens in a forwardBatch() step. */
export interface SequenceStep {
  /** From addSequence(); 0 is the decoder's own sequence. */
  sequence: number;
  tokens: readonly number[];
}

/** A step's entry once its cache room is reserved. */
