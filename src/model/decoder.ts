import { RequestError } from '../errors.js';
import { StepRecordings, type ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import type { SamplingSettings } from '../kernels/sample.js';
import { Attention } from '../kernels/attention.js';
import { MATVEC_Q8_K_MAX_COLS } from '../kernels/matvec.js';
import { gemmRoundsInput, matvecMaxRows, matvecRoundsQ8K } from '../kernels/tuning.js';
import { ropeCache, type RopeConfig } from '../kernels/rope-angles.js';
import { architectures, splitFused } from './arch/index.js';
import { modelConfig, type ModelConfig } from './config.js';
import { loadOptionsProblem } from './option-ranges.js';
import { readGgufHeader, type ByteSource } from './gguf/reader.js';
import { quantFormats } from '../quant/index.js';
import { formatOfTensor, WeightStore } from './weights.js';
import {
  BlockPool,
  cacheCapacity,
  PagedKvCache,
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
import { LayerStack } from './forward.js';
import {
  destroyCaches,
  loadLayers,
  MatmulInputs,
  matmulWeights,
  outputWeight,
  type Layer,
} from './layers.js';
import type { DecoderLoadProgress, DecoderOptions, SequenceStep } from './decoder-options.js';
import { StepData } from './step-data.js';
import { checkTensorShapes } from './tensor-shapes.js';
import { WindowShift } from './window-shift.js';
import { SamplingStage, type RowPenalties, type SampleRow } from './sampling-stage.js';

export type { RowPenalties, SampleRow };
export type { DecoderLoadProgress, DecoderOptions, SequenceStep };

// The decoder: a model of any architecture in src/model/arch/ on agentgpu's kernels, its
// sequences in a paged KV cache (src/kv) of f32, f16 or int8 K/V, optionally a sliding window
// with attention sinks. A step (forward, forwardBatch) runs each sequence's new tokens through
// the layers (forward.ts) and leaves each one's last logits on the GPU, where they are sampled
// (sampling-stage.ts); what changes per step is one write (step-data.ts), and a decode step's
// dispatches are recorded once per shape and replayed.

interface StepEntry extends KvReservation {
  seq: KvSequence;
  tokens: readonly number[];
}

export class Decoder {
  private readonly kv: PagedKvCache;
  /** Live sequences by id; `sequence` (id 0 at first) is the one forward() and reads use. */
  private readonly sequences = new Map<number, KvSequence>();
  private sequence: KvSequence;
  /** The layers, their kernels and the activations a step passes between them. */
  private stack!: LayerStack;
  /** The KV window's rotation of kept keys (with a window). */
  private shift?: WindowShift;
  /** One block of one layer's K or V: a copy's way through (a buffer cannot copy into itself). */
  private block!: GPUBuffer;
  private layers: Layer[] = [];
  /** The local layers' RoPE when it is not the global one (Gemma 3). */
  private ropeLocal: RopeConfig | undefined;
  /** What changes from step to step, written once per step: see StepData. */
  private stepData!: StepData;
  /** The logits and the kernels that draw from them. */
  private sampling!: SamplingStage;
  /** Decode steps' recordings by shape (ComputeBatch.replay). */
  private readonly recorded: StepRecordings = new StepRecordings();
  /** Bytes of one block of one layer's K (or V) cache. */
  private readonly blockBytes: number;

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
    // Options first: a context of 1 would otherwise surface as a memory plan's advice.
    const problem = loadOptionsProblem(options);
    if (problem) throw new RequestError(problem);
    const header = options.header ?? (await readGgufHeader(source));
    const config = modelConfig(header);
    // Fused tensors (phi3's attn_qkv and ffn_up) as the parts the layers read.
    const spec = architectures.get(config.architecture)!;
    const file = splitFused(header, spec, {
      qRows: config.heads * config.headDim,
      kvRows: config.kvHeads * config.headDim,
      feedForward: config.feedForward,
    });
    checkTensorShapes(file, config);
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
    this.layers = await loadLayers(gpu, c, w, this.memory.kvCachePerBuffer);
    // Whether this adapter's matvecs round to q8_k (tuning.ts), and every weight's rows are
    // short enough for them to (loadRounding).
    const output = outputWeight(w);
    const q8kOnLoad =
      matvecRoundsQ8K(gpu.facts) &&
      [...this.layers.flatMap(matmulWeights), output].every(
        (t) => t.info.dims[0] <= MATVEC_Q8_K_MAX_COLS,
      );
    const inputs = new MatmulInputs(
      this.matmulInputs,
      q8kOnLoad,
      gemmRoundsInput(gpu.facts),
      matvecMaxRows(gpu.facts),
    );
    // Every kernel the model runs is built here, so the first token pays no compilation; they
    // are counted first, so the load can say how many of them are done.
    const total =
      LayerStack.kernelCount(c, this.layers, output, inputs) +
      SamplingStage.KERNELS +
      (this.window ? 1 : 0);
    let compiled = 0;
    const built = async <T>(kernel: Promise<T>): Promise<T> => {
      const done = await kernel;
      compiled++;
      onProgress?.({ phase: 'compile', loaded: compiled, total });
      return done;
    };
    this.stack = await LayerStack.load(
      gpu,
      c,
      w,
      this.layers,
      inputs,
      {
        attention,
        rope,
        maxBatch: this.maxBatch,
        maxEntries: this.maxSequences,
        contextSize: this.contextSize,
      },
      built,
    );
    this.sampling = await SamplingStage.load(gpu, this.maxSequences, c.vocabSize, built);
    this.stepData = await StepData.create(gpu, {
      table: this.maxSequences * this.kv.maxBlocks * 4,
      ids: this.maxBatch * 4,
      last: this.maxSequences * 4,
      queries: this.maxBatch * 8,
      rope: this.maxBatch * c.ropeDims * 4,
      ropeLocal: c.ropeLocalBase ? this.maxBatch * c.ropeDims * 4 : 0,
    });
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.block = await gpu.createBuffer(this.blockBytes, storage, 'scratch:kv_block');
    if (this.window) {
      // Rotates the kept blocks' K rows back by the evicted count.
      this.shift = await WindowShift.load(
        gpu,
        { attention, rope, entries: this.maxSequences, maxBlocks: this.kv.maxBlocks },
        this.stack.kernels.ropeK,
        this.freqFactors,
        built,
      );
    }
    if (compiled !== total) throw new Error(`built ${compiled} kernels of ${total} counted`);
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
          await this.gpu.read(this.stack.hidden, 0, chunk.length * E * 4),
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
    const { gpu } = this;
    const k = this.stack.kernels;
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
      last: lastRows(entries),
      queries: Attention.queryInfo(
        rows.map((r) => ({ tableOffset: r.tableOffset, qIndex: r.position })),
      ),
      rope: k.ropeQ.cache(positions, this.freqFactors),
      ropeLocal: this.ropeLocal ? ropeCache(positions, this.ropeLocal) : new Float32Array(0),
    });
    const batch = gpu.batch('forward');
    for (const e of entries) this.encodeCopies(batch, e.copies);
    entries.forEach((e, index) => {
      if (e.shift) this.shift!.encode(batch, this.layers, index, e.shift.delta, e.shift.blocks);
    });
    const forward = () =>
      this.stack.encode(
        batch,
        step,
        entries,
        T,
        out === 'hidden' ? out : { logits: this.sampling.logits },
      );
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
    this.sampling.encode(batch, sample);
    return this.sampling.read(batch, sample.length);
  }

  /** Every layer's K and V of block `from` into block `to` (through scratch: a buffer cannot
   * copy into itself). */
  private encodeCopies(batch: ComputeBatch, copies: readonly [number, number][]): void {
    const bytes = this.blockBytes;
    for (const [from, to] of copies) {
      for (const layer of this.layers) {
        for (const cache of [layer.kCache, layer.vCache]) {
          batch.copy(cache, from * bytes, this.block, 0, bytes);
          batch.copy(this.block, 0, cache, to * bytes, bytes);
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

  /** The last step's logits (vocabSize,): of its entry `row` (forwardBatch's order). */
  logits(row = 0): Promise<Float32Array> {
    return this.sampling.logitsRow(row);
  }

  /** The greedy next token of each of the last step's `count` entries, computed on the GPU. */
  argmaxRows(count: number): Promise<number[]> {
    return this.sampling.argmaxRows(count);
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
    this.sampling.encode(batch, rows);
    return this.sampling.read(batch, rows.length);
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
    destroyCaches(this.layers);
    this.stack?.destroy();
    this.block?.destroy();
    this.stepData?.destroy();
    this.sampling?.destroy();
    this.shift?.destroy();
  }
}

/** The row of each entry's last token in a step's rows (entries' tokens back to back). */
function lastRows(entries: readonly StepEntry[]): Uint32Array {
  let end = 0;
  return Uint32Array.from(entries, (e) => (end += e.tokens.length) - 1);
}
