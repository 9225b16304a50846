import { StepRecordings, type Binding, type ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { Argmax } from '../kernels/argmax.js';
import { Penalties, PENALTY_ENTRY_BYTES, type PenaltySettings } from '../kernels/penalties.js';
import { Sampler, SAMPLER_SETTINGS_BYTES, type SamplingSettings } from '../kernels/sample.js';
import { maskWords, TokenMask } from '../kernels/token-mask.js';
import { DotInputRounding } from '../kernels/dot-input.js';
import { Attention, KvShift, KvWrite, type KvFormat } from '../kernels/attention.js';
import { Elementwise, Unary } from '../kernels/elementwise.js';
import { Embedding } from '../kernels/embedding.js';
import { Gemm, type GemmOptions } from '../kernels/gemm.js';
import {
  Matvec,
  MATVEC_MAX_BATCH,
  MATVEC_Q8_K_MAX_COLS,
  type MatvecFusion,
  type MatvecOptions,
} from '../kernels/matvec.js';
import { RmsNorm } from '../kernels/rms-norm.js';
import { matvecRoundsQ8K } from '../kernels/tuning.js';
import { Rope } from '../kernels/rope.js';
import { ropeCache, type RopeConfig } from '../kernels/rope-angles.js';
import { architectures, splitFused } from './arch/index.js';
import { isLocalLayer, modelConfig, type ModelConfig } from './config.js';
import { readGgufHeader, type ByteSource } from './gguf/reader.js';
import type { GgufFile } from './gguf/types.js';
import { dotInput, quantFormats, type DotInput, type QuantName } from '../quant/index.js';
import { formatOfTensor, WeightStore, type GpuTensor } from './weights.js';
import {
  BlockPool,
  cacheCapacity,
  PagedKvCache,
  type KvEviction,
  type KvFullPolicy,
  type KvOverflow,
  type KvSequence,
  type KvReservation,
  type SlidingWindow,
} from '../kv/paged-kv-cache.js';
import {
  BLOCK_TOKENS,
  checkPlan,
  explain,
  kvCacheBufferBytes,
  memoryPlan,
  type MemoryPlan,
} from './memory-plan.js';
import { normalize } from '../util/vector.js';

// A Llama-family decoder (llama, qwen2, qwen3) on agentgpu's kernels: sequences in a paged KV
// cache (src/kv) of f32, f16 or int8 K/V, optionally a sliding window with attention sinks, f32
// activations. forward()
// runs a chunk of tokens and leaves the last position's logits on the GPU.

/** Distinct recent tokens the penalties can cover (llama.cpp's default window is 64). */
const MAX_PENALTY_TOKENS = 4096;

/** Every weight-reading kernel a layer needs, per format (layers may mix formats). */
class KernelSet {
  private readonly matvecs = new Map<string, Promise<Matvec>>();
  private readonly gemms = new Map<string, Promise<Gemm>>();
  /** `activation`: the feed-forward gate's, for the gate_up matvecs. */
  constructor(
    private readonly gpu: GpuContext,
    private readonly activation: 'silu' | 'gelu',
  ) {}

  matvec(
    format: QuantName,
    fusion: MatvecFusion = 'none',
    batch = 1,
    input: MatvecInput = 'f32',
  ): Promise<Matvec> {
    const key = `${format}:${fusion}:${batch}:${input}`;
    let k = this.matvecs.get(key);
    const activation = this.activation;
    if (!k) {
      this.matvecs.set(
        key,
        (k = Matvec.load(this.gpu, { format, fusion, batch, input, activation })),
      );
    }
    return k;
  }

  gemm(format: QuantName, input: GemmInput = 'f32'): Promise<Gemm> {
    const key = `${format}:${input}`;
    let k = this.gemms.get(key);
    if (!k) this.gemms.set(key, (k = Gemm.load(this.gpu, { format, input })));
    return k;
  }
}

/** How a decode matvec rounds x as it loads it (MatvecOptions.input). */
type MatvecInput = NonNullable<MatvecOptions['input']>;

/** What a GEMM's x is (GemmOptions.input): as it is (rounded or not), or q8_1 with corrections. */
type GemmInput = NonNullable<GemmOptions['input']>;

/** A matvec (plain or fused, rounding its input or not) or a GEMM over one weight format. */
interface WeightKernel {
  format: QuantName;
  fusion: MatvecFusion | 'gemm';
  input: MatvecInput;
}

/** The weights a layer multiplies by. */
const matmulWeights = (l: Layer): GpuTensor[] => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down];

interface Layer {
  attnNorm: GpuTensor;
  q: GpuTensor;
  k: GpuTensor;
  v: GpuTensor;
  qBias?: GpuTensor;
  kBias?: GpuTensor;
  vBias?: GpuTensor;
  qNorm?: GpuTensor;
  kNorm?: GpuTensor;
  o: GpuTensor;
  /** RMSNorm of the attention's output before it joins the residual (Gemma 2). */
  attnPostNorm?: GpuTensor;
  ffnNorm: GpuTensor;
  /** RMSNorm of the feed-forward's output before it joins the residual (Gemma 2). */
  ffnPostNorm?: GpuTensor;
  /** Attends over the sliding window only (isLocalLayer). */
  local: boolean;
  gate: GpuTensor;
  up: GpuTensor;
  down: GpuTensor;
  /** gate and up share a buffer, up right after gate: the fused matvec applies. */
  gateUpFused: boolean;
  /**
   * q, k and v share a buffer back to back (and their biases, if any, too): one matvec projects
   * and rotates them at decode. Their binding, and their biases'.
   */
  qkv?: { w: { buffer: GPUBuffer; offset: number }; bias?: Binding };
  kCache: GPUBuffer;
  vCache: GPUBuffer;
}

const at = (t: GpuTensor): Binding => ({
  buffer: t.buffer,
  offset: t.offset,
  size: t.info.byteSize,
});

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

/** Penalties on one row's logits: the settings and the recent tokens' counts. */
export interface RowPenalties {
  settings: PenaltySettings;
  counts: ReadonlyMap<number, number>;
}

/** One row of sampleRows(): its settings, uniform draw in [0, 1), penalties and grammar mask. */
export interface SampleRow {
  settings: SamplingSettings;
  u: number;
  penalties?: RowPenalties;
  /** Allowed tokens, maskWords(vocabSize) u32 bitset words (grammar-constrained sampling). */
  mask?: Uint32Array;
}

/** One sequence's tokens in a forwardBatch() step. */
export interface SequenceStep {
  /** From addSequence(); 0 is the decoder's own sequence. */
  sequence: number;
  tokens: readonly number[];
}

/** A step's entry once its cache room is reserved. */
interface StepEntry extends KvReservation {
  seq: KvSequence;
  tokens: readonly number[];
}

/** The parts of StepData, in the order they lie in its buffer. */
type StepParts = 'table' | 'ids' | 'queries' | 'rope' | 'ropeLocal';
const STEP_PARTS: readonly StepParts[] = ['table', 'ids', 'queries', 'rope', 'ropeLocal'];

/**
 * What changes from one step to the next, in one buffer written with one writeBuffer per step:
 * the entries' block tables, the token ids, the query rows (table offset and cache index per
 * row, Attention.queryInfo) and the RoPE angles per row (and the local layers' own, when their
 * RoPE differs: Gemma 3's). Each part has a fixed, aligned range
 * with a binding made once, so a step's bind groups are the last step's.
 */
class StepData {
  private constructor(
    private readonly gpu: GpuContext,
    private readonly buffer: GPUBuffer,
    private readonly offsets: Record<StepParts, number>,
    readonly table: Binding,
    readonly ids: Binding,
    readonly queries: Binding,
    readonly rope: Binding,
    readonly ropeLocal: Binding,
  ) {}

  static async create(gpu: GpuContext, sizes: Record<StepParts, number>): Promise<StepData> {
    const align = gpu.facts.limits.minStorageBufferOffsetAlignment;
    const offsets = {} as Record<StepParts, number>;
    let end = 0;
    for (const part of STEP_PARTS) {
      offsets[part] = end;
      end = Math.ceil((end + Math.max(sizes[part], 4)) / align) * align;
    }
    const buffer = await gpu.createBuffer(
      end,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      'step',
    );
    const at = (part: StepParts) => ({ buffer, offset: offsets[part], size: sizes[part] });
    return new StepData(
      gpu,
      buffer,
      offsets,
      at('table'),
      at('ids'),
      at('queries'),
      at('rope'),
      at('ropeLocal'),
    );
  }

  /**
   * One step's parts in one write, up to the end of the RoPE angles' data; the local layers'
   * angles (Gemma 3 only) in a second, so no step writes the unused rows reserved between.
   */
  write(parts: Record<StepParts, Uint32Array | Float32Array>): void {
    const bytes = new Uint8Array(this.offsets.rope + parts.rope.byteLength);
    for (const part of STEP_PARTS) {
      if (part === 'ropeLocal') continue;
      const data = parts[part];
      bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.offsets[part]);
    }
    this.gpu.write(this.buffer, bytes);
    if (parts.ropeLocal.byteLength > 0) {
      this.gpu.write(this.buffer, parts.ropeLocal, this.offsets.ropeLocal);
    }
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

export class Decoder {
  private readonly kv: PagedKvCache;
  /** Live sequences by id; `sequence` (id 0 at first) is the one forward() and reads use. */
  private readonly sequences = new Map<number, KvSequence>();
  private sequence: KvSequence;
  private scratch!: Record<string, GPUBuffer>;
  private kernels!: {
    embedding: Embedding;
    norm: RmsNorm;
    ropeQ: Rope;
    ropeK: Rope;
    add: Elementwise;
    addRows: Elementwise;
    /** The feed-forward gate apart from its matmuls: silu_mul or gelu_mul. */
    ffnGate: Elementwise;
    attention: Attention;
    /** The local layers' attention (its window), if any. */
    attentionLocal?: Attention;
    /** Gemma's embedding scale and final logit soft-capping. */
    embeddingScale?: Unary;
    logitSoftcap?: Unary;
    kvWrite: KvWrite;
    kvShift?: KvShift;
    argmax: Argmax;
    sampler: Sampler;
    penalties: Penalties;
    tokenMask: TokenMask;
    rounding: Map<DotInput, DotInputRounding>;
    set: KernelSet;
  };
  private layers: Layer[] = [];
  /** Decode matvecs round q8_k inputs as they load them (set in prepare; loadRounding). */
  private q8kOnLoad = false;
  /** The local layers' RoPE when it is not the global one (Gemma 3). */
  private ropeLocal: RopeConfig | undefined;
  /** What changes from step to step, written once per step: see StepData. */
  private stepData!: StepData;
  /** Decode steps' recordings by shape (ComputeBatch.replay). */
  private readonly recorded: StepRecordings = new StepRecordings();
  /** Bytes of one block of one layer's K (or V) cache. */
  private readonly blockBytes: number;
  /** Per step entry: the cos/sin a window shift turns its keys by, and the blocks to turn. */
  private shiftAngles?: GPUBuffer;
  private shiftBlocks?: GPUBuffer;

  private constructor(
    readonly gpu: GpuContext,
    readonly config: ModelConfig,
    readonly weights: WeightStore,
    readonly contextSize: number,
    readonly maxBatch: number,
    readonly matmulInputs: 'llama.cpp' | 'f32',
    private freqFactors: Float32Array | undefined,
    /** The GPU bytes this decoder holds, by kind. */
    readonly memory: MemoryPlan,
    readonly window: SlidingWindow | undefined,
    private readonly onOverflow: ((overflow: KvOverflow) => void) | undefined,
    /** Sequences the cache holds at once. */
    readonly maxSequences: number,
    options: Pick<DecoderOptions, 'whenFull' | 'onEvict'>,
  ) {
    this.blockBytes = kvCacheBufferBytes(config, BLOCK_TOKENS, memory.kv);
    this.kv = new PagedKvCache(
      new BlockPool(memory.kvBlocks, 2 * config.layers * this.blockBytes),
      BLOCK_TOKENS,
      contextSize,
      { window, whenFull: options.whenFull, onEvict: options.onEvict },
    );
    this.sequence = this.kv.create();
    this.sequences.set(this.sequence.id, this.sequence);
  }

  /** A new, empty sequence (another agent's conversation); its id for forwardBatch(). */
  addSequence(): number {
    this.checkRoom();
    const seq = this.kv.create();
    this.sequences.set(seq.id, seq);
    return seq.id;
  }

  /** Frees a sequence's blocks (not the decoder's own, which reset() empties). */
  removeSequence(id: number): void {
    const seq = this.live(id);
    if (seq === this.sequence)
      throw new RangeError('the decoder keeps its own sequence: reset() it');
    this.kv.remove(seq);
    this.sequences.delete(id);
  }

  private checkRoom(): void {
    if (this.sequences.size >= this.maxSequences) {
      throw new RangeError(
        `this decoder holds ${this.maxSequences} sequences: remove one, or load it with more`,
      );
    }
  }

  private live(id: number): KvSequence {
    const seq = this.sequences.get(id);
    if (!seq) throw new RangeError(`no sequence ${id}: it was removed, or never added`);
    return seq;
  }

  /** Tokens in the cache. */
  get length(): number {
    return this.sequence.length;
  }

  /** The token ids in the cache, in cache order (the sinks, then the window). */
  get cachedTokens(): readonly number[] {
    return this.sequence.tokens;
  }

  /** Tokens that left the window so far. */
  get evicted(): number {
    return this.sequence.evicted;
  }

  /** Blocks and bytes of the KV cache in use. */
  kvStats() {
    return this.kv.stats();
  }

  /** The most tokens one forward() takes: maxBatch, or less in a window. */
  get maxStep(): number {
    return Math.min(this.maxBatch, this.kv.maxStep);
  }

  static async load(
    gpu: GpuContext,
    source: ByteSource,
    options: DecoderOptions = {},
  ): Promise<Decoder> {
    const header = options.header ?? (await readGgufHeader(source));
    const config = modelConfig(header);
    // Fused tensors (phi3's attn_qkv and ffn_up) as the parts the layers read.
    const spec = architectures.get(config.architecture)!;
    const file = splitFused(header, spec, {
      qRows: config.heads * config.headDim,
      kvRows: config.kvHeads * config.headDim,
      feedForward: config.feedForward,
    });
    const window = options.window;
    // With a window the cache holds the sinks and the window, whole blocks of each.
    const contextSize = window
      ? cacheCapacity(BLOCK_TOKENS, 0, window)
      : Math.min(options.contextSize ?? Math.min(config.contextLength, 4096), config.contextLength);
    const maxBatch = options.maxBatch ?? 256;
    const widened = (name: string) => name.endsWith('norm.weight') || name.endsWith('.bias');
    const sequences = options.sequences ?? 1;
    const plan = memoryPlan(file, config, {
      contextSize,
      maxBatch,
      widened,
      sequences,
      kv: options.kv ?? (gpu.facts.features.shaderF16 ? 'f16' : 'f32'),
      kvBudget: options.kvBudget,
      limits: gpu.facts.limits,
    });
    checkPlan(plan, config, contextSize, gpu.facts.limits, options.kvBudget);
    const groups = Array.from({ length: config.layers }, (_, l) => [
      [`blk.${l}.ffn_gate.weight`, `blk.${l}.ffn_up.weight`],
      ['q', 'k', 'v'].map((p) => `blk.${l}.attn_${p}.weight`),
      ['q', 'k', 'v'].map((p) => `blk.${l}.attn_${p}.bias`),
    ]).flat();
    let weights: WeightStore;
    try {
      weights = await WeightStore.load(gpu, file, source, {
        groups,
        f32: widened,
        onProgress: (loaded, total) => options.onLoadProgress?.({ phase: 'upload', loaded, total }),
      });
    } catch (error) {
      throw explain(error, plan, contextSize);
    }
    const decoder = new Decoder(
      gpu,
      config,
      weights,
      contextSize,
      maxBatch,
      options.matmulInputs ?? 'llama.cpp',
      undefined,
      plan,
      window,
      options.onOverflow,
      sequences,
      options,
    );
    try {
      // Per-pair frequency divisors (Llama 3.1's, phi3's LongRoPE), read here: the host
      // computes RoPE's angles.
      const factorsName = spec.ropeFactors?.(file, contextSize);
      const factorsInfo = file.tensors.find((t) => t.name === factorsName);
      if (factorsInfo) {
        decoder.freqFactors = quantFormats[formatOfTensor(factorsInfo)].dequantize(
          await source.read(file.dataOffset + factorsInfo.offset, factorsInfo.byteSize),
          factorsInfo.elements,
        );
      }
      await decoder.prepare(options.onLoadProgress);
    } catch (error) {
      decoder.destroy();
      throw explain(error, plan, contextSize);
    }
    return decoder;
  }

  private async prepare(onProgress?: (progress: DecoderLoadProgress) => void): Promise<void> {
    const { gpu, config: c, weights: w } = this;
    const attention = {
      heads: c.heads,
      kvHeads: c.kvHeads,
      headDim: c.headDim,
      blockTokens: BLOCK_TOKENS,
      kv: this.memory.kv,
      softcap: c.attnSoftcap,
    };
    const rope = {
      heads: c.heads,
      headDim: c.headDim,
      ropeDims: c.ropeDims,
      freqBase: c.ropeBase,
      freqScale: c.ropeScale,
      neox: c.ropeNeox,
      yarn: c.yarn,
    };
    // Gemma 3's local layers: their own base, unscaled.
    if (c.ropeLocalBase) {
      this.ropeLocal = { ...rope, freqBase: c.ropeLocalBase, freqScale: 1, yarn: undefined };
    }
    const cacheBytes = this.memory.kvCachePerBuffer; // every sequence's blocks
    for (let l = 0; l < c.layers; l++) {
      const b = `blk.${l}`;
      const opt = (name: string) => (w.has(`${b}.${name}`) ? w.get(`${b}.${name}`) : undefined);
      const gate = w.get(`${b}.ffn_gate.weight`);
      const up = w.get(`${b}.ffn_up.weight`);
      const q = w.get(`${b}.attn_q.weight`);
      const k = w.get(`${b}.attn_k.weight`);
      const v = w.get(`${b}.attn_v.weight`);
      const biases = [opt('attn_q.bias'), opt('attn_k.bias'), opt('attn_v.bias')];
      this.layers.push({
        attnNorm: w.get(`${b}.attn_norm.weight`),
        q,
        k,
        v,
        qBias: opt('attn_q.bias'),
        kBias: opt('attn_k.bias'),
        vBias: opt('attn_v.bias'),
        qNorm: opt('attn_q_norm.weight'),
        kNorm: opt('attn_k_norm.weight'),
        o: w.get(`${b}.attn_output.weight`),
        attnPostNorm: opt('post_attention_norm.weight'),
        ffnNorm: w.get(`${b}.ffn_norm.weight`),
        ffnPostNorm: opt('post_ffw_norm.weight'),
        local: isLocalLayer(c, l),
        gate,
        up,
        down: w.get(`${b}.ffn_down.weight`),
        gateUpFused: gate.buffer === up.buffer && up.offset === gate.offset + gate.info.byteSize,
        qkv: this.fusedQkv([q, k, v], biases, !!opt('attn_q_norm.weight')),
        ...(await this.cachePair(cacheBytes, b)),
      });
    }
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    // Every kernel the model runs is built here, so the first token pays no compilation; they
    // are counted first, so the load can say how many of them are done.
    // Whether this adapter's matvecs round to q8_k (tuning.ts), and every weight's rows are
    // short enough for them to (loadRounding).
    this.q8kOnLoad =
      matvecRoundsQ8K(gpu.facts) &&
      [...this.layers.flatMap(matmulWeights), this.output].every(
        (t) => t.info.dims[0] <= MATVEC_Q8_K_MAX_COLS,
      );
    const weightKernels = this.weightKernels();
    const roundingKinds = new Set(
      [...this.layers.flatMap(matmulWeights), this.output]
        .map((t) => this.inputKind(t))
        .filter((kind) => kind !== 'f32'),
    );
    const local = this.layers.some((l) => l.local);
    const optional = [this.window, local, c.embeddingScale !== 1, c.finalSoftcap > 0];
    const fixedKernels = 13; // this.kernels below, the optional ones aside
    const total =
      fixedKernels + optional.filter(Boolean).length + roundingKinds.size + weightKernels.length;
    let compiled = 0;
    const built = async <T>(kernel: Promise<T>): Promise<T> => {
      const done = await kernel;
      compiled++;
      onProgress?.({ phase: 'compile', loaded: compiled, total });
      return done;
    };
    const set = new KernelSet(gpu, c.activation);
    this.kernels = {
      embedding: await built(Embedding.load(gpu, w.get('token_embd.weight').format)),
      norm: await built(RmsNorm.load(gpu)),
      ropeQ: await built(Rope.load(gpu, rope)),
      ropeK: await built(Rope.load(gpu, { ...rope, heads: c.kvHeads })),
      add: await built(Elementwise.load(gpu, 'add')),
      addRows: await built(Elementwise.load(gpu, 'add_rows')),
      ffnGate: await built(
        Elementwise.load(gpu, c.activation === 'gelu' ? 'gelu_mul' : 'silu_mul'),
      ),
      attention: await built(Attention.load(gpu, attention)),
      ...(local && {
        attentionLocal: await built(Attention.load(gpu, { ...attention, window: c.slidingWindow })),
      }),
      ...(c.embeddingScale !== 1 && { embeddingScale: await built(Unary.load(gpu, 'scale')) }),
      ...(c.finalSoftcap > 0 && { logitSoftcap: await built(Unary.load(gpu, 'softcap')) }),
      kvWrite: await built(KvWrite.load(gpu, attention)),
      argmax: await built(Argmax.load(gpu)),
      sampler: await built(Sampler.load(gpu)),
      penalties: await built(Penalties.load(gpu)),
      tokenMask: await built(TokenMask.load(gpu)),
      rounding: new Map(),
      set,
    };
    this.stepData = await StepData.create(gpu, {
      table: this.maxSequences * this.kv.maxBlocks * 4,
      ids: this.maxBatch * 4,
      queries: this.maxBatch * 8,
      rope: this.maxBatch * c.ropeDims * 4,
      ropeLocal: c.ropeLocalBase ? this.maxBatch * c.ropeDims * 4 : 0,
    });
    if (this.window) {
      // Rotates the kept blocks' K rows back by the evicted count.
      this.kernels.kvShift = await built(KvShift.load(gpu, { ...attention, ...rope }));
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
      const { angles, blocks } = this.shiftStrides;
      this.shiftAngles = await gpu.createBuffer(
        this.maxSequences * angles,
        usage,
        'kv:shift_angles',
      );
      this.shiftBlocks = await gpu.createBuffer(
        this.maxSequences * blocks,
        usage,
        'kv:shift_blocks',
      );
    }
    const T = this.maxBatch;
    const E = c.embedding;
    const scratch = async (label: string, floats: number) =>
      gpu.createBuffer(Math.max(floats, 4) * 4, storage, `scratch:${label}`);
    const sizes = this.kernels.attention.scratchBytes(T, this.contextSize);
    this.scratch = {
      x: await scratch('x', T * E),
      x2: await scratch('x2', T * E),
      h: await scratch('h', T * E),
      q: await scratch('q', T * c.heads * c.headDim),
      k: await scratch('k', T * c.kvHeads * c.headDim),
      v: await scratch('v', T * c.kvHeads * c.headDim),
      attn: await scratch('attn', T * c.heads * c.headDim),
      gate: await scratch('gate', T * c.feedForward),
      up: await scratch('up', T * c.feedForward),
      act: await scratch('act', T * c.feedForward),
      logits: await scratch('logits', this.maxSequences * c.vocabSize),
      last: await scratch('last', this.maxSequences * E),
      proj: await scratch('proj', T * Math.max(c.heads, c.kvHeads) * c.headDim),
      token: await gpu.createBuffer(Math.max(16, 4 * this.maxSequences), storage, 'scratch:token'),
      settings: await gpu.createBuffer(
        Math.max(64, this.maxSequences * SAMPLER_SETTINGS_BYTES),
        storage,
        'scratch:sample_settings',
      ),
      penaltyEntries: await gpu.createBuffer(
        MAX_PENALTY_TOKENS * PENALTY_ENTRY_BYTES,
        storage,
        'scratch:penalty_entries',
      ),
      partAcc: await gpu.createBuffer(sizes.acc, storage, 'scratch:attn_acc'),
      block: await gpu.createBuffer(this.blockBytes, storage, 'scratch:kv_block'),
      partMl: await gpu.createBuffer(sizes.ml, storage, 'scratch:attn_ml'),
      mask: await gpu.createBuffer(
        this.maxSequences * maskWords(c.vocabSize) * 4,
        storage,
        'scratch:token_mask',
      ),
    };
    // A rounded copy of a matmul input per kind of dot input the weights need.
    const inputFloats = T * Math.max(E, c.feedForward, c.heads * c.headDim);
    for (const kind of roundingKinds) {
      this.kernels.rounding.set(kind, await built(DotInputRounding.load(gpu, kind)));
      this.scratch[`in_${kind}`] = await scratch(`in_${kind}`, inputFloats);
      if (kind === 'q8_1') {
        this.scratch.corrections_q8_1 = await scratch(
          'corrections_q8_1',
          Math.ceil(inputFloats / 32),
        );
      }
    }
    for (const { format, fusion, input } of weightKernels) {
      await built<unknown>(
        fusion === 'gemm'
          ? set.gemm(format, this.gemmInput(format))
          : set.matvec(format, fusion, 1, input),
      );
    }
    if (compiled !== total) throw new Error(`built ${compiled} kernels of ${total} counted`);
  }

  /** The matvec and GEMM kernels the weights need, each once. */
  private weightKernels(): WeightKernel[] {
    const kernels = new Map<string, WeightKernel>();
    const add = (format: QuantName, fusion: WeightKernel['fusion']) => {
      const input = fusion === 'gemm' ? this.gemmInput(format) : this.loadRounding(format);
      kernels.set(`${format}:${fusion}:${input}`, { format, fusion, input });
    };
    for (const layer of this.layers) {
      for (const t of matmulWeights(layer)) {
        add(t.format, 'none');
        add(t.format, 'gemm');
      }
      if (layer.qBias) add(layer.q.format, 'bias');
      if (layer.qkv) add(layer.q.format, layer.qkv.bias ? 'qkv_bias' : 'qkv');
      if (layer.gateUpFused) add(layer.gate.format, 'gate_up');
      // A post-norm (Gemma) comes between the projection and the residual add.
      if (!layer.attnPostNorm) add(layer.o.format, 'residual');
      if (!layer.ffnPostNorm) add(layer.down.format, 'residual');
    }
    add(this.output.format, 'none');
    return [...kernels.values()];
  }

  /** A layer's K and V cache buffers: both, or neither when the second cannot be had. */
  private async cachePair(bytes: number, layer: string) {
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const kCache = await this.gpu.createBuffer(bytes, storage, `${layer}.k_cache`);
    try {
      return { kCache, vCache: await this.gpu.createBuffer(bytes, storage, `${layer}.v_cache`) };
    } catch (error) {
      kCache.destroy();
      throw error;
    }
  }

  /**
   * The fused q/k/v projection's weights and biases, when they lie back to back in one buffer
   * (WeightStore's groups) and the heads are rotated right after it (not normed first: qwen3).
   */
  private fusedQkv(
    [q, k, v]: GpuTensor[],
    biases: (GpuTensor | undefined)[],
    headNorm: boolean,
  ): Layer['qkv'] {
    const together = (ts: GpuTensor[], size: (t: GpuTensor) => number) =>
      ts.every(
        (t, i) =>
          i === 0 || (t.buffer === ts[0].buffer && t.offset === ts[i - 1].offset + size(ts[i - 1])),
      );
    if (headNorm || !together([q, k, v], (t) => t.info.byteSize)) return undefined;
    const w = { buffer: q.buffer, offset: q.offset };
    if (biases.every((t) => t === undefined)) return { w };
    const [qb, kb, vb] = biases;
    if (!qb || !kb || !vb || !together([qb, kb, vb], (t) => t.info.elements * 4)) return undefined;
    const size = (qb.info.elements + kb.info.elements + vb.info.elements) * 4;
    return { w, bias: { buffer: qb.buffer, offset: qb.offset, size } };
  }

  /** What a matmul's input is rounded to before meeting `w` (f32: not rounded). */
  private inputKind(w: Pick<GpuTensor, 'format'>): DotInput {
    return this.matmulInputs === 'llama.cpp' ? dotInput[w.format] : 'f32';
  }

  /**
   * How a decode matvec over weights in `format` rounds x as it loads it: the dot input itself,
   * except q8_k on software adapters (matvecRoundsQ8K) or when some weight's rows are longer
   * than a matvec rounds (MATVEC_Q8_K_MAX_COLS): then a rounding pass first ('f32': as it is).
   */
  private loadRounding(format: QuantName): MatvecInput {
    const kind = this.inputKind({ format });
    return kind === 'q8_k' && !this.q8kOnLoad ? 'f32' : kind;
  }

  /** What the prefill GEMM over weights in `format` takes: q8_1 goes with its corrections. */
  private gemmInput(format: QuantName): GemmInput {
    return this.inputKind({ format }) === 'q8_1' ? 'q8_1' : 'f32';
  }

  /** The decode matvec over weights in `format`, rounding x as it loads it (loadRounding). */
  private decodeMatvec(format: QuantName, fusion: MatvecFusion, tokens: number): Promise<Matvec> {
    return this.kernels.set.matvec(format, fusion, tokens, this.loadRounding(format));
  }

  /**
   * x (`tokens` rows, n floats in all) as each of `weights` reads it: rounded once per
   * distinct dot input into that kind's scratch, unless the decode matvec rounds it as it
   * loads it (loadRounding). Returns the binding to pass for a given weight.
   */
  private roundInputs(
    batch: ComputeBatch,
    x: GPUBuffer,
    n: number,
    tokens: number,
    weights: readonly GpuTensor[],
  ): (w: GpuTensor) => Binding {
    const rounded = new Map<DotInput, GPUBuffer>();
    for (const w of weights) {
      const kind = this.inputKind(w);
      if (rounded.has(kind)) continue;
      if (kind === 'f32' || (tokens <= MATVEC_MAX_BATCH && this.loadRounding(w.format) !== 'f32')) {
        rounded.set(kind, x);
        continue;
      }
      const out = this.scratch[`in_${kind}`];
      const corrections = kind === 'q8_1' ? this.scratch.corrections_q8_1 : undefined;
      this.kernels.rounding.get(kind)!.encode(batch, { x, out, n, corrections });
      rounded.set(kind, out);
    }
    return (w) => rounded.get(this.inputKind(w))!;
  }

  private get output(): GpuTensor {
    return this.weights.has('output.weight')
      ? this.weights.get('output.weight')
      : this.weights.get('token_embd.weight');
  }

  /** y (T, rows) = x (T, cols) · Wᵀ (+ bias), by matvec for one token, GEMM for more. */
  private async project(
    batch: ComputeBatch,
    w: GpuTensor,
    x: Binding,
    out: Binding,
    tokens: number,
    bias?: GpuTensor,
  ): Promise<void> {
    const [cols, rows] = w.info.dims;
    const set = this.kernels.set;
    // Up to MATVEC_MAX_BATCH rows (decode steps of several sequences): one pass over the weights.
    if (tokens <= MATVEC_MAX_BATCH) {
      const k = await this.decodeMatvec(w.format, bias ? 'bias' : 'none', tokens);
      k.encode(batch, {
        w: { buffer: w.buffer, offset: w.offset },
        x,
        out,
        rows,
        cols,
        bias: bias && at(bias),
      });
      return;
    }
    const input = this.gemmInput(w.format);
    const gemm = await set.gemm(w.format, input);
    const weights = { buffer: w.buffer, offset: w.offset };
    // x came from roundInputs: for q8_1, its pass left the corrections in their scratch.
    const corrections = input === 'q8_1' ? this.scratch.corrections_q8_1 : undefined;
    const product = { w: weights, x, m: tokens, n: rows, k: cols, corrections };
    if (!bias) {
      gemm.encode(batch, { ...product, out });
      return;
    }
    // GEMM has no bias variant: into scratch, then the bias added over the rows.
    gemm.encode(batch, { ...product, out: this.scratch.proj });
    this.kernels.addRows.encode(batch, {
      a: this.scratch.proj,
      b: at(bias),
      out,
      n: tokens * rows,
      bLength: rows,
    });
  }

  /**
   * out = residual + W · x, for `tokens` rows: a projection back into the residual stream. Up to
   * MATVEC_MAX_BATCH rows the matvec adds the residual as it writes (one dispatch); past that, the
   * GEMM's result and an add. With a post-norm (Gemma 2) residual + RMSNorm(W · x): the
   * projection, its norm (into the gate's scratch: every such model's feed-forward is wider than
   * it), then the add.
   */
  private async projectAdd(
    batch: ComputeBatch,
    w: GpuTensor,
    x: Binding,
    residual: GPUBuffer,
    out: GPUBuffer,
    tokens: number,
    postNorm?: GpuTensor,
  ): Promise<void> {
    const [cols, rows] = w.info.dims;
    const s = this.scratch;
    if (postNorm) {
      await this.project(batch, w, x, s.h, tokens);
      const eps = this.config.rmsEps;
      this.kernels.norm.encode(batch, {
        x: s.h,
        weight: at(postNorm),
        out: s.gate,
        rows: tokens,
        n: rows,
        eps,
      });
      this.kernels.add.encode(batch, { a: residual, b: s.gate, out, n: tokens * rows });
      return;
    }
    if (tokens <= MATVEC_MAX_BATCH) {
      const k = await this.decodeMatvec(w.format, 'residual', tokens);
      k.encode(batch, { w: { buffer: w.buffer, offset: w.offset }, x, out, rows, cols, residual });
      return;
    }
    await this.project(batch, w, x, this.scratch.h, tokens);
    this.kernels.add.encode(batch, { a: residual, b: this.scratch.h, out, n: tokens * rows });
  }

  /**
   * Runs `tokens` (at most maxBatch) through the model at the cache's next positions; the last
   * position's logits stay in the logits buffer. Returns nothing: read them with logits() or
   * take the greedy token with argmax().
   */
  async forward(tokens: readonly number[]): Promise<void> {
    await this.forwardBatch([{ sequence: this.sequence.id, tokens }]);
  }

  /**
   * One step for several sequences together (their decode tokens, or a chunk of one's prompt
   * beside the others' decode): every weight is read once for all of them. Each step's last
   * position's logits land in row i of the logits (logits(i), argmaxRows()).
   */
  async forwardBatch(steps: readonly SequenceStep[]): Promise<void>;
  /**
   * The step, then sampling its entries' logits (as sampleRows), in one submission: a decode
   * step's one submit. Returns the sampled ids, row i for entry i.
   */
  async forwardBatch(
    steps: readonly SequenceStep[],
    sample: readonly SampleRow[],
  ): Promise<number[]>;
  async forwardBatch(
    steps: readonly SequenceStep[],
    sample?: readonly SampleRow[],
  ): Promise<number[] | void> {
    if (sample && sample.length !== steps.length) {
      throw new RangeError(`${steps.length} steps need as many sample rows, got ${sample.length}`);
    }
    const rows = steps.reduce((n, st) => n + st.tokens.length, 0);
    if (steps.length === 0 || steps.some((st) => st.tokens.length === 0) || rows > this.maxBatch) {
      throw new RangeError(
        `a step takes 1..${this.maxBatch} tokens in all, at least one a sequence; got ${steps.map((st) => st.tokens.length).join(' + ') || 'none'}`,
      );
    }
    const seqs = steps.map((st) => this.live(st.sequence));
    if (new Set(seqs).size !== seqs.length)
      throw new RangeError('a sequence appears twice in one step');
    const entries: StepEntry[] = [];
    const busy = new Set(seqs);
    let ids: number[] | undefined;
    try {
      for (const [i, st] of steps.entries()) {
        entries.push({
          seq: seqs[i],
          tokens: st.tokens,
          ...this.kv.reserve(seqs[i], st.tokens.length, busy),
        });
      }
      ids = await this.run(entries, 'logits', sample);
    } catch (error) {
      for (const e of entries) this.kv.truncate(e.seq, e.start);
      throw error;
    }
    for (const e of entries) {
      this.kv.append(e.seq, e.tokens);
      if (e.overflow) this.onOverflow?.(e.overflow);
    }
    return ids;
  }

  /**
   * The sentence embedding of `tokens`: the final-norm hidden states of every position,
   * mean-pooled and L2-normalized (llama.cpp's `--pooling mean`). Runs on a sequence of its
   * own, freed before it returns; tokens past the cache's room are left out.
   */
  async embed(tokens: readonly number[]): Promise<Float32Array> {
    if (tokens.length === 0) throw new RangeError('embed() needs at least one token');
    const E = this.config.embedding;
    const kept = tokens.slice(0, this.contextSize);
    const seq = this.kv.create();
    const sum = new Float64Array(E);
    try {
      for (let i = 0; i < kept.length; i += this.maxStep) {
        const chunk = kept.slice(i, i + this.maxStep);
        const entry = { seq, tokens: chunk, ...this.kv.reserve(seq, chunk.length, new Set([seq])) };
        await this.run([entry], 'hidden');
        this.kv.append(seq, chunk);
        const hidden = new Float32Array(
          await this.gpu.read(this.scratch.h, 0, chunk.length * E * 4),
        );
        for (let r = 0; r < chunk.length; r++) {
          for (let j = 0; j < E; j++) sum[j] += hidden[r * E + j];
        }
      }
    } finally {
      this.kv.remove(seq);
    }
    return normalize(Float32Array.from(sum, (v) => v / kept.length));
  }

  /**
   * Encodes and submits one step: each entry's tokens at its cache indices from `start`. Ends
   * with the logits of each entry's last position, or (`hidden`) every position's final-norm
   * hidden state in scratch.h.
   */
  private async run(
    entries: readonly StepEntry[],
    out: 'logits' | 'hidden' = 'logits',
    sample?: readonly SampleRow[],
  ): Promise<number[] | undefined> {
    const { gpu, kernels: k } = this;
    const maxBlocks = this.kv.maxBlocks;
    // Row r of the step: entry e's token i. Entry e's block table sits at e * maxBlocks.
    const rows = entries.flatMap((e, index) =>
      e.tokens.map((token, i) => ({
        token,
        position: e.start + i,
        tableOffset: index * maxBlocks,
      })),
    );
    const T = rows.length;
    const tables = new Uint32Array(entries.length * maxBlocks);
    entries.forEach((e, index) => tables.set(this.kv.table(e.seq), index * maxBlocks));
    const step = this.stepData;
    const positions = rows.map((r) => r.position);
    step.write({
      table: tables,
      ids: Uint32Array.from(rows, (r) => r.token),
      queries: Attention.queryInfo(
        rows.map((r) => ({ tableOffset: r.tableOffset, qIndex: r.position })),
      ),
      rope: k.ropeQ.cache(positions, this.freqFactors),
      ropeLocal: this.ropeLocal ? ropeCache(positions, this.ropeLocal) : new Float32Array(0),
    });
    const batch = gpu.batch('forward');
    for (const e of entries) this.encodeCopies(batch, e.copies);
    entries.forEach((e, index) => {
      if (e.shift) this.encodeShift(batch, index, e.shift.delta, e.shift.blocks);
    });
    const forward = () => this.encodeForward(batch, entries, T, out);
    if (entries.every((e) => e.tokens.length === 1)) {
      // A decode step: recorded once per shape (entries, output, attention splits), replayed
      // after with its bind groups, no kernel's encode() run again.
      const maxKeys = Math.max(...entries.map((e) => e.start + 1));
      const { splits, keysPerSplit } = k.attention.split(maxKeys, entries.length);
      const shape = `${out}|${entries.length}|${splits}x${keysPerSplit}`;
      await batch.replay(this.recorded, shape, forward);
    } else {
      await forward();
    }
    if (out === 'hidden' || !sample) {
      await batch.submit();
      return undefined;
    }
    this.encodeSampling(batch, sample);
    return this.readTokens(batch, sample.length);
  }

  /**
   * Records a step's model: embedding, every layer, and the final norm (every row, `hidden`) or
   * each entry's last row's logits. Everything per step it reads comes from StepData and the
   * entries' lengths, so a recording serves every step of the same shape.
   */
  private async encodeForward(
    batch: ComputeBatch,
    entries: readonly StepEntry[],
    T: number,
    out: 'logits' | 'hidden',
  ): Promise<void> {
    const c = this.config;
    const { scratch: s, kernels: k, stepData: step } = this;
    const E = c.embedding;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    const emb = this.weights.get('token_embd.weight');
    k.embedding.encode(batch, {
      table: { buffer: emb.buffer, offset: emb.offset },
      ids: step.ids,
      out: s.x,
      tokens: T,
      vocab: c.vocabSize,
      dim: E,
    });
    k.embeddingScale?.encode(batch, { x: s.x, n: T * E, value: c.embeddingScale });
    let x = s.x;
    let other = s.x2;
    for (const layer of this.layers) {
      k.norm.encode(batch, {
        x,
        weight: at(layer.attnNorm),
        out: s.h,
        rows: T,
        n: E,
        eps: c.rmsEps,
      });
      const qkvIn = this.roundInputs(batch, s.h, T * E, T, [layer.q, layer.k, layer.v]);
      // Gemma 3's local layers turn by a RoPE of their own.
      const angles = layer.local && c.ropeLocalBase ? step.ropeLocal : step.rope;
      if (layer.qkv && T <= MATVEC_MAX_BATCH) {
        // Decode: q, k and v in one pass, q and k rotated as they are written.
        const fusion = layer.qkv.bias ? 'qkv_bias' : 'qkv';
        const fused = await this.decodeMatvec(layer.q.format, fusion, T);
        fused.encode(batch, {
          w: layer.qkv.w,
          x: qkvIn(layer.q),
          out: s.q,
          rows: qDim + 2 * kvDim,
          cols: E,
          bias: layer.qkv.bias,
          qkv: {
            k: s.k,
            v: s.v,
            rope: angles,
            qRows: qDim,
            kvRows: kvDim,
            headDim: c.headDim,
            ropeDims: c.ropeDims,
            neox: c.ropeNeox,
          },
        });
      } else {
        await this.project(batch, layer.q, qkvIn(layer.q), s.q, T, layer.qBias);
        await this.project(batch, layer.k, qkvIn(layer.k), s.k, T, layer.kBias);
        await this.project(batch, layer.v, qkvIn(layer.v), s.v, T, layer.vBias);
        if (layer.qNorm && layer.kNorm) {
          // Per-head RMSNorm of q and k (qwen3): rows are (token, head).
          const heads: [GPUBuffer, GpuTensor, number][] = [
            [s.q, layer.qNorm, c.heads],
            [s.k, layer.kNorm, c.kvHeads],
          ];
          for (const [x, weight, count] of heads) {
            k.norm.encode(batch, {
              x,
              weight: at(weight),
              out: s.attn,
              rows: T * count,
              n: c.headDim,
              eps: c.rmsEps,
            });
            batch.copy(s.attn, 0, x, 0, T * count * c.headDim * 4);
          }
        }
        k.ropeQ.encode(batch, { x: s.q, cache: angles, tokens: T });
        k.ropeK.encode(batch, { x: s.k, cache: angles, tokens: T });
      }
      // Every entry's new rows into its own blocks, in one dispatch.
      k.kvWrite.encode(batch, {
        kNew: s.k,
        vNew: s.v,
        table: step.table,
        queries: step.queries,
        kCache: layer.kCache,
        vCache: layer.vCache,
        tokens: T,
      });
      (layer.local ? k.attentionLocal! : k.attention).encode(batch, {
        q: s.q,
        kCache: layer.kCache,
        vCache: layer.vCache,
        table: step.table,
        queries: step.queries,
        out: s.attn,
        scratch: { acc: s.partAcc, ml: s.partMl },
        queryCount: T,
        maxKeys: Math.max(...entries.map((e) => e.start + e.tokens.length)),
      });
      const oIn = this.roundInputs(batch, s.attn, T * qDim, T, [layer.o]);
      await this.projectAdd(batch, layer.o, oIn(layer.o), x, other, T, layer.attnPostNorm);
      [x, other] = [other, x];
      k.norm.encode(batch, {
        x,
        weight: at(layer.ffnNorm),
        out: s.h,
        rows: T,
        n: E,
        eps: c.rmsEps,
      });
      const ffnIn = this.roundInputs(batch, s.h, T * E, T, [layer.gate, layer.up]);
      if (T <= MATVEC_MAX_BATCH && layer.gateUpFused) {
        const fused = await this.decodeMatvec(layer.gate.format, 'gate_up', T);
        fused.encode(batch, {
          w: { buffer: layer.gate.buffer, offset: layer.gate.offset },
          x: ffnIn(layer.gate),
          out: s.act,
          rows: c.feedForward,
          cols: E,
        });
      } else {
        await this.project(batch, layer.gate, ffnIn(layer.gate), s.gate, T);
        await this.project(batch, layer.up, ffnIn(layer.up), s.up, T);
        k.ffnGate.encode(batch, { a: s.gate, b: s.up, out: s.act, n: T * c.feedForward });
      }
      const downIn = this.roundInputs(batch, s.act, T * c.feedForward, T, [layer.down]);
      await this.projectAdd(batch, layer.down, downIn(layer.down), x, other, T, layer.ffnPostNorm);
      [x, other] = [other, x];
    }
    if (out === 'hidden') {
      k.norm.encode(batch, {
        x,
        weight: at(this.weights.get('output_norm.weight')),
        out: s.h,
        rows: T,
        n: E,
        eps: c.rmsEps,
      });
      return;
    }
    // Each entry's last position only: norm, then the output projection. In a decode step (a
    // token an entry) every row is one already, and the pass goes on without a copy.
    const M = entries.length;
    let last = x;
    if (T !== M) {
      let end = 0;
      entries.forEach((e, index) => {
        end += e.tokens.length;
        batch.copy(x, (end - 1) * E * 4, s.last, index * E * 4, E * 4);
      });
      last = s.last;
    }
    k.norm.encode(batch, {
      x: last,
      weight: at(this.weights.get('output_norm.weight')),
      out: s.h,
      rows: M,
      n: E,
      eps: c.rmsEps,
    });
    const outIn = this.roundInputs(batch, s.h, M * E, M, [this.output]);
    await this.project(batch, this.output, outIn(this.output), s.logits, M);
    k.logitSoftcap?.encode(batch, { x: s.logits, n: M * c.vocabSize, value: c.finalSoftcap });
  }

  /** Every layer's K and V of block `from` into block `to` (through scratch: a buffer cannot
   * copy into itself). */
  private encodeCopies(batch: ComputeBatch, copies: readonly [number, number][]): void {
    const bytes = this.blockBytes;
    for (const [from, to] of copies) {
      for (const layer of this.layers) {
        for (const cache of [layer.kCache, layer.vCache]) {
          batch.copy(cache, from * bytes, this.scratch.block, 0, bytes);
          batch.copy(this.scratch.block, 0, cache, to * bytes, bytes);
        }
      }
    }
  }

  /**
   * A new sequence holding `id`'s tokens: full blocks shared, a partly filled one copied, so a
   * system prompt several agents start from is stored once. Returns the new sequence's id.
   */
  async forkSequence(id: number): Promise<number> {
    this.checkRoom();
    const { child, copies } = this.kv.fork(this.live(id));
    this.sequences.set(child.id, child);
    if (copies.length > 0) {
      const batch = this.gpu.batch('kv:fork');
      this.encodeCopies(batch, copies);
      await batch.submit();
    }
    return child.id;
  }

  /**
   * Reuses blocks another sequence filled with the same prompt tokens (the prefix cache): the
   * returned count of `prompt`'s first tokens is cached in sequence `id`; run the rest.
   */
  adoptPrefix(id: number, prompt: readonly number[]): number {
    return this.kv.adopt(this.live(id), prompt);
  }

  /** Tokens in sequence `id`'s cache. */
  sequenceLength(id: number): number {
    return this.live(id).length;
  }

  /** Sequence `id`'s token ids in cache order. */
  sequenceTokens(id: number): readonly number[] {
    return this.live(id).tokens;
  }

  /** Tokens that left sequence `id`'s window so far. */
  sequenceEvicted(id: number): number {
    return this.live(id).evicted;
  }

  /** Keeps sequence `id`'s first `length` cached tokens and frees the blocks past them. */
  truncateSequence(id: number, length: number): void {
    this.kv.truncate(this.live(id), length);
  }

  /** Cache indices the window's sinks keep (whole blocks; 0 without a window). */
  get sinkTokens(): number {
    return this.kv.sinkBlocks * BLOCK_TOKENS;
  }

  /** Bytes between step entries' shift angles, and block lists: storage offsets must align. */
  private get shiftStrides(): { angles: number; blocks: number } {
    const align = this.gpu.facts.limits.minStorageBufferOffsetAlignment;
    const aligned = (bytes: number) => Math.ceil(bytes / align) * align;
    return { angles: aligned(this.config.ropeDims * 4), blocks: aligned(this.kv.maxBlocks * 4) };
  }

  /** Every layer's cached K in `blocks` rotated back by `delta` positions (entry `slot`'s rows). */
  private encodeShift(
    batch: ComputeBatch,
    slot: number,
    delta: number,
    blocks: readonly number[],
  ): void {
    // A pure rotation by -delta: the angles' cos and sin without YaRN's magnitude scale.
    const angles = this.kernels.ropeK.cache([-delta], this.freqFactors);
    for (let i = 0; i < angles.length; i += 2) {
      const norm = Math.hypot(angles[i], angles[i + 1]);
      angles[i] /= norm;
      angles[i + 1] /= norm;
    }
    const strides = this.shiftStrides;
    const at = (buffer: GPUBuffer, stride: number, bytes: number) => ({
      buffer,
      offset: slot * stride,
      size: bytes,
    });
    const angleRows = at(this.shiftAngles!, strides.angles, angles.byteLength);
    const blockList = at(this.shiftBlocks!, strides.blocks, blocks.length * 4);
    this.gpu.write(this.shiftAngles!, angles, angleRows.offset);
    this.gpu.write(this.shiftBlocks!, Uint32Array.from(blocks), blockList.offset);
    for (const layer of this.layers) {
      this.kernels.kvShift!.encode(batch, {
        cache: layer.kCache,
        blocks: blockList,
        angles: angleRows,
        count: blocks.length,
      });
    }
  }

  /** The last step's logits (vocabSize,): of its entry `row` (forwardBatch's order). */
  async logits(row = 0): Promise<Float32Array> {
    const bytes = this.config.vocabSize * 4;
    return new Float32Array(await this.gpu.read(this.scratch.logits, row * bytes, bytes));
  }

  /** The greedy next token of each of the last step's `count` entries, computed on the GPU. */
  async argmaxRows(count: number): Promise<number[]> {
    const batch = this.gpu.batch('argmax');
    this.kernels.argmax.encode(batch, {
      logits: this.scratch.logits,
      ids: this.scratch.token,
      rows: count,
      n: this.config.vocabSize,
    });
    await batch.submit();
    return Array.from(new Uint32Array(await this.gpu.read(this.scratch.token, 0, count * 4)));
  }

  /** The greedy next token of the last forward(), computed on the GPU. */
  async argmax(): Promise<number> {
    return (await this.argmaxRows(1))[0];
  }

  /**
   * The next token of the last forward(), drawn on the GPU: penalties applied to the logits in
   * place (counts of the recent tokens), then `settings` with the uniform draw `u`. Only the
   * id is read back.
   */
  async sample(settings: SamplingSettings, u: number, penalties?: RowPenalties): Promise<number> {
    return (await this.sampleRows([{ settings, u, penalties }]))[0];
  }

  /**
   * The next token of each of the last step's entries (row i: forwardBatch's entry i), each
   * with its own settings, draw and penalties, in one submission; only the ids come back.
   */
  sampleRows(rows: readonly SampleRow[]): Promise<number[]> {
    const batch = this.gpu.batch('sample');
    this.encodeSampling(batch, rows);
    return this.readTokens(batch, rows.length);
  }

  /** Submits `batch` and reads back the first `count` sampled token ids, in one submission. */
  private async readTokens(batch: ComputeBatch, count: number): Promise<number[]> {
    const ids = await this.gpu.submitAndRead(batch, this.scratch.token, 0, count * 4);
    return Array.from(new Uint32Array(ids));
  }

  /** Records sampling the logits' rows into `batch`: penalties, grammar masks, the draw. */
  private encodeSampling(batch: ComputeBatch, rows: readonly SampleRow[]): void {
    const { gpu, scratch: s, kernels: k } = this;
    const n = this.config.vocabSize;
    // Rows with the same penalty settings share a dispatch; each group its own entries region.
    const groups = new Map<
      string,
      { settings: PenaltySettings; counts: Map<number, ReadonlyMap<number, number>> }
    >();
    rows.forEach(({ penalties: p }, row) => {
      if (!p || p.counts.size === 0) return;
      const key = `${p.settings.repeat}|${p.settings.frequency}|${p.settings.presence}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { settings: p.settings, counts: new Map() }));
      group.counts.set(row, p.counts);
    });
    const align = gpu.facts.limits.minStorageBufferOffsetAlignment;
    let offset = 0;
    for (const group of groups.values()) {
      const perRow = Array.from(
        { length: rows.length },
        (_, r) => group.counts.get(r) ?? new Map(),
      );
      const entries = Penalties.entries(perRow);
      const count = entries.length / 3;
      if (offset + entries.byteLength > MAX_PENALTY_TOKENS * PENALTY_ENTRY_BYTES) {
        throw new RangeError(
          `penalties cover ${count} distinct tokens, more than the ${MAX_PENALTY_TOKENS} a step holds: shorten the penalty window`,
        );
      }
      gpu.write(s.penaltyEntries, entries, offset);
      k.penalties.encode(batch, {
        logits: s.logits,
        entries: { buffer: s.penaltyEntries, offset, size: entries.byteLength },
        count,
        n,
        settings: group.settings,
      });
      offset += Math.ceil(entries.byteLength / align) * align;
    }
    if (rows.some((r) => r.mask)) {
      const words = maskWords(n);
      const masks = new Uint32Array(rows.length * words).fill(0xffffffff);
      rows.forEach((r, i) => r.mask && masks.set(r.mask, i * words));
      gpu.write(s.mask, masks);
      k.tokenMask.encode(batch, { logits: s.logits, mask: s.mask, rows: rows.length, n });
    }
    gpu.write(s.settings, Sampler.settings(rows));
    k.sampler.encode(batch, {
      logits: s.logits,
      settings: s.settings,
      ids: s.token,
      rows: rows.length,
      n,
    });
  }

  /** Keeps the first `length` cached tokens and forgets the rest (a reused prefix). */
  truncate(length: number): void {
    this.kv.truncate(this.sequence, length);
  }

  /** Forgets the cached tokens (the buffers stay). */
  reset(): void {
    this.kv.truncate(this.sequence, 0);
  }

  destroy(): void {
    this.weights.destroy();
    for (const layer of this.layers) {
      layer.kCache.destroy();
      layer.vCache.destroy();
    }
    for (const b of Object.values(this.scratch ?? {})) b.destroy();
    this.stepData?.destroy();
    this.shiftAngles?.destroy();
    this.shiftBlocks?.destroy();
  }
}
