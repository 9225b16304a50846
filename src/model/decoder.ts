import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { Argmax } from '../kernels/argmax.js';
import { Penalties, PENALTY_ENTRY_BYTES, type PenaltySettings } from '../kernels/penalties.js';
import { Sampler, type SamplingSettings } from '../kernels/sample.js';
import { DotInputRounding } from '../kernels/dot-input.js';
import { Attention, KvWrite } from '../kernels/attention.js';
import { Elementwise } from '../kernels/elementwise.js';
import { Embedding } from '../kernels/embedding.js';
import { Gemm } from '../kernels/gemm.js';
import { Matvec } from '../kernels/matvec.js';
import { RmsNorm } from '../kernels/rms-norm.js';
import { Rope } from '../kernels/rope.js';
import { modelConfig, type ModelConfig } from './config.js';
import { readGgufHeader, type ByteSource } from './gguf/reader.js';
import { dotInput, quantFormats, type DotInput, type QuantName } from './quant/index.js';
import { formatOfTensor, WeightStore, type GpuTensor } from './weights.js';
import {
  BlockPool,
  PagedKvCache,
  type KvOverflow,
  type KvSequence,
  type KvShift,
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

// A Llama-family decoder (llama, qwen2, qwen3) on agentgpu's kernels: one sequence in a paged
// KV cache (src/kv), optionally a sliding window with attention sinks, f32 activations. forward() runs a chunk of tokens and leaves the last position's logits on the GPU.

/** Distinct recent tokens the penalties can cover (llama.cpp's default window is 64). */
const MAX_PENALTY_TOKENS = 4096;

/** Every weight-reading kernel a layer needs, per format (layers may mix formats). */
class KernelSet {
  private readonly matvecs = new Map<string, Promise<Matvec>>();
  private readonly gemms = new Map<string, Promise<Gemm>>();
  constructor(private readonly gpu: GpuContext) {}

  matvec(format: QuantName, fusion: 'none' | 'bias' | 'gate_up' = 'none'): Promise<Matvec> {
    const key = `${format}:${fusion}`;
    let k = this.matvecs.get(key);
    if (!k) this.matvecs.set(key, (k = Matvec.load(this.gpu, { format, fusion })));
    return k;
  }

  gemm(format: QuantName): Promise<Gemm> {
    let k = this.gemms.get(format);
    if (!k) this.gemms.set(format, (k = Gemm.load(this.gpu, { format })));
    return k;
  }
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
  ffnNorm: GpuTensor;
  gate: GpuTensor;
  up: GpuTensor;
  down: GpuTensor;
  /** gate and up share a buffer, up right after gate: the fused matvec applies. */
  gateUpFused: boolean;
  kCache: GPUBuffer;
  vCache: GPUBuffer;
}

const at = (t: GpuTensor): Binding => ({
  buffer: t.buffer,
  offset: t.offset,
  size: t.info.byteSize,
});

export interface DecoderOptions {
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
}

export class Decoder {
  private readonly kv: PagedKvCache;
  private sequence: KvSequence;
  private scratch!: Record<string, GPUBuffer>;
  private kernels!: {
    embedding: Embedding;
    norm: RmsNorm;
    ropeQ: Rope;
    ropeK: Rope;
    add: Elementwise;
    addRows: Elementwise;
    siluMul: Elementwise;
    attention: Attention;
    kvWrite: KvWrite;
    argmax: Argmax;
    sampler: Sampler;
    penalties: Penalties;
    rounding: Map<DotInput, DotInputRounding>;
    set: KernelSet;
  };
  private layers: Layer[] = [];
  private table!: GPUBuffer;
  private shiftRope?: Rope;
  private shiftAngles?: GPUBuffer;

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
  ) {
    const c = config;
    const blockBytes = 2 * c.layers * kvCacheBufferBytes(c, BLOCK_TOKENS);
    this.kv = new PagedKvCache(
      new BlockPool(Math.ceil(contextSize / BLOCK_TOKENS), blockBytes),
      BLOCK_TOKENS,
      contextSize,
      window,
    );
    this.sequence = this.kv.create();
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
    const file = await readGgufHeader(source);
    const config = modelConfig(file);
    const window = options.window;
    // With a window the cache holds the sinks and the window, whole blocks of each.
    const blocksOf = (n: number) => Math.ceil(n / BLOCK_TOKENS) * BLOCK_TOKENS;
    const contextSize = window
      ? blocksOf(window.sinks) + blocksOf(window.window)
      : Math.min(options.contextSize ?? Math.min(config.contextLength, 4096), config.contextLength);
    const maxBatch = options.maxBatch ?? 256;
    const widened = (name: string) => name.endsWith('norm.weight') || name.endsWith('.bias');
    const plan = memoryPlan(file, config, contextSize, maxBatch, widened);
    checkPlan(plan, config, contextSize, gpu.facts.limits);
    const groups = Array.from({ length: config.layers }, (_, l) => [
      `blk.${l}.ffn_gate.weight`,
      `blk.${l}.ffn_up.weight`,
    ]);
    let weights: WeightStore;
    try {
      weights = await WeightStore.load(gpu, file, source, { groups, f32: widened });
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
    );
    try {
      // Llama 3.1's per-pair frequency divisors, read here: the host computes RoPE's angles.
      const factorsInfo = file.tensors.find((t) => t.name === 'rope_freqs.weight');
      if (factorsInfo) {
        decoder.freqFactors = quantFormats[formatOfTensor(factorsInfo)].dequantize(
          await source.read(file.dataOffset + factorsInfo.offset, factorsInfo.byteSize),
          factorsInfo.elements,
        );
      }
      await decoder.prepare();
    } catch (error) {
      decoder.destroy();
      throw explain(error, plan, contextSize);
    }
    return decoder;
  }

  private async prepare(): Promise<void> {
    const { gpu, config: c, weights: w } = this;
    const attention = {
      heads: c.heads,
      kvHeads: c.kvHeads,
      headDim: c.headDim,
      blockTokens: BLOCK_TOKENS,
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
    const set = new KernelSet(gpu);
    this.kernels = {
      embedding: await Embedding.load(gpu, w.get('token_embd.weight').format),
      norm: await RmsNorm.load(gpu),
      ropeQ: await Rope.load(gpu, rope),
      ropeK: await Rope.load(gpu, { ...rope, heads: c.kvHeads }),
      add: await Elementwise.load(gpu, 'add'),
      addRows: await Elementwise.load(gpu, 'add_rows'),
      siluMul: await Elementwise.load(gpu, 'silu_mul'),
      attention: await Attention.load(gpu, attention),
      kvWrite: await KvWrite.load(gpu, attention),
      argmax: await Argmax.load(gpu),
      sampler: await Sampler.load(gpu),
      penalties: await Penalties.load(gpu),
      rounding: new Map(),
      set,
    };
    this.table = await gpu.upload(this.kv.table(this.sequence), 'kv:table');
    if (this.window) {
      // Rotates a whole block's K rows (kvHeads × BT of them) back by the evicted count.
      this.shiftRope = await Rope.load(gpu, { ...rope, heads: c.kvHeads * BLOCK_TOKENS });
      this.shiftAngles = await gpu.createBuffer(
        c.ropeDims * 4,
        GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
        'kv:shift_angles',
      );
    }
    const cacheBytes = kvCacheBufferBytes(c, this.contextSize);
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    for (let l = 0; l < c.layers; l++) {
      const b = `blk.${l}`;
      const opt = (name: string) => (w.has(`${b}.${name}`) ? w.get(`${b}.${name}`) : undefined);
      const gate = w.get(`${b}.ffn_gate.weight`);
      const up = w.get(`${b}.ffn_up.weight`);
      this.layers.push({
        attnNorm: w.get(`${b}.attn_norm.weight`),
        q: w.get(`${b}.attn_q.weight`),
        k: w.get(`${b}.attn_k.weight`),
        v: w.get(`${b}.attn_v.weight`),
        qBias: opt('attn_q.bias'),
        kBias: opt('attn_k.bias'),
        vBias: opt('attn_v.bias'),
        qNorm: opt('attn_q_norm.weight'),
        kNorm: opt('attn_k_norm.weight'),
        o: w.get(`${b}.attn_output.weight`),
        ffnNorm: w.get(`${b}.ffn_norm.weight`),
        gate,
        up,
        down: w.get(`${b}.ffn_down.weight`),
        gateUpFused: gate.buffer === up.buffer && up.offset === gate.offset + gate.info.byteSize,
        ...(await this.cachePair(cacheBytes, b)),
      });
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
      logits: await scratch('logits', c.vocabSize),
      last: await scratch('last', E),
      proj: await scratch('proj', T * Math.max(c.heads, c.kvHeads) * c.headDim),
      ids: await gpu.createBuffer(T * 4, storage, 'scratch:ids'),
      rope: await scratch('rope', T * c.ropeDims),
      queries: await gpu.createBuffer(T * 8, storage, 'scratch:queries'),
      token: await gpu.createBuffer(16, storage, 'scratch:token'),
      settings: await gpu.createBuffer(64, storage, 'scratch:sample_settings'),
      penaltyEntries: await gpu.createBuffer(
        MAX_PENALTY_TOKENS * PENALTY_ENTRY_BYTES,
        storage,
        'scratch:penalty_entries',
      ),
      partAcc: await gpu.createBuffer(sizes.acc, storage, 'scratch:attn_acc'),
      partMl: await gpu.createBuffer(sizes.ml, storage, 'scratch:attn_ml'),
    };
    // A rounded copy of a matmul input per kind of dot input the weights need.
    const inputFloats = T * Math.max(E, c.feedForward, c.heads * c.headDim);
    for (const t of [...this.layers.flatMap(matmulWeights), this.output]) {
      const kind = this.inputKind(t);
      if (kind === 'f32' || this.kernels.rounding.has(kind)) continue;
      this.kernels.rounding.set(kind, await DotInputRounding.load(gpu, kind));
      this.scratch[`in_${kind}`] = await scratch(`in_${kind}`, inputFloats);
    }
    // Compile every weight kernel up front, so the first token pays no compilation.
    for (const layer of this.layers) {
      for (const t of matmulWeights(layer)) {
        await set.matvec(t.format);
        await set.gemm(t.format);
      }
      if (layer.qBias) await set.matvec(layer.q.format, 'bias');
      if (layer.gateUpFused) await set.matvec(layer.gate.format, 'gate_up');
    }
    await set.matvec(this.output.format);
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

  /** What a matmul's input is rounded to before meeting `w` (f32: not rounded). */
  private inputKind(w: GpuTensor): DotInput {
    return this.matmulInputs === 'llama.cpp' ? dotInput[w.format] : 'f32';
  }

  /**
   * x (n floats) as each of `weights` reads it: rounded once per distinct dot input into that
   * kind's scratch. Returns the binding to pass for a given weight.
   */
  private roundInputs(
    batch: ComputeBatch,
    x: GPUBuffer,
    n: number,
    weights: readonly GpuTensor[],
  ): (w: GpuTensor) => Binding {
    const rounded = new Map<DotInput, GPUBuffer>();
    for (const w of weights) {
      const kind = this.inputKind(w);
      if (rounded.has(kind)) continue;
      if (kind === 'f32') {
        rounded.set(kind, x);
        continue;
      }
      const out = this.scratch[`in_${kind}`];
      this.kernels.rounding.get(kind)!.encode(batch, { x, out, n });
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
    if (tokens === 1) {
      const k = await set.matvec(w.format, bias ? 'bias' : 'none');
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
    const gemm = await set.gemm(w.format);
    const weights = { buffer: w.buffer, offset: w.offset };
    if (!bias) {
      gemm.encode(batch, { w: weights, x, out, m: tokens, n: rows, k: cols });
      return;
    }
    // GEMM has no bias variant: into scratch, then the bias added over the rows.
    gemm.encode(batch, { w: weights, x, out: this.scratch.proj, m: tokens, n: rows, k: cols });
    this.kernels.addRows.encode(batch, {
      a: this.scratch.proj,
      b: at(bias),
      out,
      n: tokens * rows,
      bLength: rows,
    });
  }

  /**
   * Runs `tokens` (at most maxBatch) through the model at the cache's next positions; the last
   * position's logits stay in the logits buffer. Returns nothing: read them with logits() or
   * take the greedy token with argmax().
   */
  async forward(tokens: readonly number[]): Promise<void> {
    const T = tokens.length;
    if (T === 0 || T > this.maxBatch)
      throw new RangeError(`forward takes 1..${this.maxBatch} tokens, got ${T}`);
    const { start, shift, overflow } = this.kv.reserve(this.sequence, T);
    try {
      await this.run(tokens, start, shift);
    } catch (error) {
      this.kv.truncate(this.sequence, start);
      throw error;
    }
    this.kv.append(this.sequence, tokens);
    if (overflow) this.onOverflow?.(overflow);
  }

  /** Encodes and submits one forward step of `tokens` at cache index `start`. */
  private async run(tokens: readonly number[], start: number, shift?: KvShift): Promise<void> {
    const T = tokens.length;
    const c = this.config;
    const { gpu, scratch: s, kernels: k } = this;
    gpu.write(this.table, this.kv.table(this.sequence));
    gpu.write(s.ids, Uint32Array.from(tokens));
    gpu.write(
      s.rope,
      k.ropeQ.cache(
        tokens.map((_, i) => start + i),
        this.freqFactors,
      ),
    );
    gpu.write(
      s.queries,
      Attention.queryInfo(tokens.map((_, i) => ({ tableOffset: 0, qIndex: start + i }))),
    );
    const E = c.embedding;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    const emb = this.weights.get('token_embd.weight');
    const batch = gpu.batch('forward');
    if (shift) this.encodeShift(batch, shift.delta, shift.blocks);
    k.embedding.encode(batch, {
      table: { buffer: emb.buffer, offset: emb.offset },
      ids: s.ids,
      out: s.x,
      tokens: T,
      vocab: c.vocabSize,
      dim: E,
    });
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
      const qkvIn = this.roundInputs(batch, s.h, T * E, [layer.q, layer.k, layer.v]);
      await this.project(batch, layer.q, qkvIn(layer.q), s.q, T, layer.qBias);
      await this.project(batch, layer.k, qkvIn(layer.k), s.k, T, layer.kBias);
      await this.project(batch, layer.v, qkvIn(layer.v), s.v, T, layer.vBias);
      if (layer.qNorm && layer.kNorm) {
        // Per-head RMSNorm of q and k (qwen3): rows are (token, head).
        k.norm.encode(batch, {
          x: s.q,
          weight: at(layer.qNorm),
          out: s.attn,
          rows: T * c.heads,
          n: c.headDim,
          eps: c.rmsEps,
        });
        batch.copy(s.attn, 0, s.q, 0, T * qDim * 4);
        k.norm.encode(batch, {
          x: s.k,
          weight: at(layer.kNorm),
          out: s.attn,
          rows: T * c.kvHeads,
          n: c.headDim,
          eps: c.rmsEps,
        });
        batch.copy(s.attn, 0, s.k, 0, T * kvDim * 4);
      }
      k.ropeQ.encode(batch, { x: s.q, cache: s.rope, tokens: T });
      k.ropeK.encode(batch, { x: s.k, cache: s.rope, tokens: T });
      k.kvWrite.encode(batch, {
        kNew: s.k,
        vNew: s.v,
        table: this.table,
        kCache: layer.kCache,
        vCache: layer.vCache,
        tokens: T,
        start,
        tableOffset: 0,
      });
      k.attention.encode(batch, {
        q: s.q,
        kCache: layer.kCache,
        vCache: layer.vCache,
        table: this.table,
        queries: s.queries,
        out: s.attn,
        scratch: { acc: s.partAcc, ml: s.partMl },
        queryCount: T,
        maxKeys: start + T,
      });
      const oIn = this.roundInputs(batch, s.attn, T * qDim, [layer.o]);
      await this.project(batch, layer.o, oIn(layer.o), s.h, T);
      k.add.encode(batch, { a: x, b: s.h, out: other, n: T * E });
      [x, other] = [other, x];
      k.norm.encode(batch, {
        x,
        weight: at(layer.ffnNorm),
        out: s.h,
        rows: T,
        n: E,
        eps: c.rmsEps,
      });
      const ffnIn = this.roundInputs(batch, s.h, T * E, [layer.gate, layer.up]);
      if (T === 1 && layer.gateUpFused) {
        const fused = await k.set.matvec(layer.gate.format, 'gate_up');
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
        k.siluMul.encode(batch, { a: s.gate, b: s.up, out: s.act, n: T * c.feedForward });
      }
      const downIn = this.roundInputs(batch, s.act, T * c.feedForward, [layer.down]);
      await this.project(batch, layer.down, downIn(layer.down), s.h, T);
      k.add.encode(batch, { a: x, b: s.h, out: other, n: T * E });
      [x, other] = [other, x];
    }
    // The last position only: norm, then the output projection.
    batch.copy(x, (T - 1) * E * 4, s.last, 0, E * 4);
    k.norm.encode(batch, {
      x: s.last,
      weight: at(this.weights.get('output_norm.weight')),
      out: s.h,
      rows: 1,
      n: E,
      eps: c.rmsEps,
    });
    const outIn = this.roundInputs(batch, s.h, E, [this.output]);
    await this.project(batch, this.output, outIn(this.output), s.logits, 1);
    await batch.submit();
  }

  /** Every layer's cached K in `blocks` rotated back by `delta` positions. */
  private encodeShift(batch: ComputeBatch, delta: number, blocks: readonly number[]): void {
    const rope = this.shiftRope!;
    // A pure rotation by -delta: the angles' cos and sin without YaRN's magnitude scale.
    const angles = rope.cache([-delta], this.freqFactors);
    for (let i = 0; i < angles.length; i += 2) {
      const norm = Math.hypot(angles[i], angles[i + 1]);
      angles[i] /= norm;
      angles[i + 1] /= norm;
    }
    this.gpu.write(this.shiftAngles!, angles);
    const bytes = kvCacheBufferBytes(this.config, BLOCK_TOKENS);
    for (const layer of this.layers) {
      for (const block of blocks) {
        const x = { buffer: layer.kCache, offset: block * bytes, size: bytes };
        rope.encode(batch, { x, cache: this.shiftAngles!, tokens: 1 });
      }
    }
  }

  /** The last forward()'s logits (vocabSize,). */
  async logits(): Promise<Float32Array> {
    return new Float32Array(await this.gpu.read(this.scratch.logits, 0, this.config.vocabSize * 4));
  }

  /** The greedy next token of the last forward(), computed on the GPU. */
  async argmax(): Promise<number> {
    const batch = this.gpu.batch('argmax');
    this.kernels.argmax.encode(batch, {
      logits: this.scratch.logits,
      ids: this.scratch.token,
      rows: 1,
      n: this.config.vocabSize,
    });
    await batch.submit();
    return new Uint32Array(await this.gpu.read(this.scratch.token, 0, 4))[0];
  }

  /**
   * The next token of the last forward(), drawn on the GPU: penalties applied to the logits in
   * place (counts of the recent tokens), then `settings` with the uniform draw `u`. Only the
   * id is read back.
   */
  async sample(
    settings: SamplingSettings,
    u: number,
    penalties?: { settings: PenaltySettings; counts: ReadonlyMap<number, number> },
  ): Promise<number> {
    const { gpu, scratch: s, kernels: k } = this;
    const batch = gpu.batch('sample');
    if (penalties && penalties.counts.size > 0) {
      const entries = Penalties.entries([penalties.counts]);
      const count = entries.length / 3;
      if (count > MAX_PENALTY_TOKENS) {
        throw new RangeError(
          `penalties cover ${count} distinct tokens, at most ${MAX_PENALTY_TOKENS}: shorten the penalty window`,
        );
      }
      gpu.write(s.penaltyEntries, entries);
      k.penalties.encode(batch, {
        logits: s.logits,
        entries: s.penaltyEntries,
        count,
        n: this.config.vocabSize,
        settings: penalties.settings,
      });
    }
    gpu.write(s.settings, Sampler.settings([{ settings, u }]));
    k.sampler.encode(batch, {
      logits: s.logits,
      settings: s.settings,
      ids: s.token,
      rows: 1,
      n: this.config.vocabSize,
    });
    await batch.submit();
    return new Uint32Array(await gpu.read(s.token, 0, 4))[0];
  }

  /** Keeps the first `length` cached tokens and forgets the rest (a reused prefix). */
  truncate(length: number): void {
    this.kv.truncate(this.sequence, length);
  }

  /** Forgets the cached tokens (the buffers stay). */
  reset(): void {
    this.kv.remove(this.sequence);
    this.sequence = this.kv.create();
  }

  destroy(): void {
    this.weights.destroy();
    for (const layer of this.layers) {
      layer.kCache.destroy();
      layer.vCache.destroy();
    }
    for (const b of Object.values(this.scratch ?? {})) b.destroy();
    this.table?.destroy();
    this.shiftAngles?.destroy();
  }
}
