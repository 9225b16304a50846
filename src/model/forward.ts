import type { Binding, ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { Attention, KvWrite, type AttentionConfig } from '../kernels/attention.js';
import { DotInputRounding } from '../kernels/dot-input.js';
import { Elementwise, Unary } from '../kernels/elementwise.js';
import { Embedding } from '../kernels/embedding.js';
import type { Matvec } from '../kernels/matvec.js';
import type { MatvecFusion } from '../kernels/matvec.js';
import { RmsNorm } from '../kernels/rms-norm.js';
import { Rope } from '../kernels/rope.js';
import type { RopeConfig } from '../kernels/rope-angles.js';
import type { DotInput } from '../quant/index.js';
import type { ModelConfig } from './config.js';
import {
  at,
  KernelSet,
  matmulWeights,
  outputWeight,
  weightKernels,
  type Layer,
  type MatmulInputs,
} from './layers.js';
import type { StepData } from './step-data.js';
import type { GpuTensor, WeightStore } from './weights.js';

// The model a step runs: the embedding, every layer's recipe (norms, q/k/v with RoPE, the KV
// write, attention, the output projection back into the residual, the gated feed-forward, and
// the post-norms, soft-capping and scales some architectures add), the final norm and the
// output projection. Matmuls are matvecs up to MatmulInputs.matvecRows rows (decode steps: 8 on
// a software adapter, 16 on a GPU), GEMMs past them (prefill), their inputs rounded as llama.cpp
// rounds them for each weight format.

/** The kernels of ForwardKernels every model has (the optional ones, and the set, aside). */
const FIXED_KERNELS = 10;

/**
 * The kinds of dot input a rounding pass makes for the matmuls: those some decode matvec or
 * prefill GEMM does not round itself as it loads x (on a software adapter the GEMM's, and
 * q8_k's for the matvec too; q8_k for rows too long for the matvec's block scales; q8_1 with
 * its corrections for the GEMM).
 */
function roundingKinds(
  layers: readonly Layer[],
  output: GpuTensor,
  inputs: MatmulInputs,
): Set<Exclude<DotInput, 'f32'>> {
  const kinds = new Set<Exclude<DotInput, 'f32'>>();
  for (const t of [...layers.flatMap(matmulWeights), output]) {
    const kind = inputs.inputKind(t);
    const passed = [1, inputs.matvecRows + 1].some((rows) => !inputs.roundsOnLoad(t.format, rows));
    if (kind !== 'f32' && passed) kinds.add(kind);
  }
  return kinds;
}

/** The kernels a step's model runs besides the weight-reading ones (KernelSet). */
export interface ForwardKernels {
  embedding: Embedding;
  /** Each entry's last row of a prefill step gathered (an embedding lookup in the f32 rows). */
  lastRows: Embedding;
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
  set: KernelSet;
}

/** The activations a step passes between kernels, each sized for maxBatch rows. */
export interface Scratch {
  /** The residual stream, and its other half (each projection writes into the other). */
  x: GPUBuffer;
  x2: GPUBuffer;
  /** A normed row (attention's and the feed-forward's input, the final norm's output). */
  h: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  /** Attention's output (and the per-head norms' temporary). */
  attn: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  /** The gated feed-forward's activation. */
  act: GPUBuffer;
  /** Each entry's last row, when the step has more rows than entries. */
  last: GPUBuffer;
  /** A biased GEMM's product before its bias. */
  proj: GPUBuffer;
  /** Attention's split partials. */
  partAcc: GPUBuffer;
  partMl: GPUBuffer;
}

/** A matmul input rounded for one kind of dot input: its pass, its copy, its corrections. */
export interface RoundedInput {
  kernel: DotInputRounding;
  out: GPUBuffer;
  /** q8_1: each block's correction beside the rounded values. */
  corrections?: GPUBuffer;
}

/** What a LayerStack is built from besides its layers and weights. */
export interface LayerStackShape {
  attention: AttentionConfig;
  rope: RopeConfig;
  /** Rows one step takes at most. */
  maxBatch: number;
  /** Entries one step takes at most (their last rows' logits). */
  maxEntries: number;
  contextSize: number;
}

/** The model's layers and the kernels and activations a step runs them with. */
export class LayerStack {
  constructor(
    private readonly config: ModelConfig,
    private readonly weights: WeightStore,
    readonly layers: readonly Layer[],
    readonly kernels: ForwardKernels,
    private readonly scratch: Scratch,
    /** A rounded copy of a matmul input per kind of dot input the weights need. */
    private readonly rounding: ReadonlyMap<DotInput, RoundedInput>,
    private readonly inputs: MatmulInputs,
    /** Every buffer it created (scratch and rounded inputs), for destroy(). */
    private readonly buffers: readonly GPUBuffer[],
  ) {}

  /**
   * The kernels load() builds for these layers (counted first, so the load can say how many
   * of them are done): the fixed ones, the optional ones the config asks for, a rounding pass
   * per kind of dot input, and each weight kernel once.
   */
  static kernelCount(
    c: ModelConfig,
    layers: readonly Layer[],
    output: GpuTensor,
    inputs: MatmulInputs,
  ): number {
    const optional = [layers.some((l) => l.local), c.embeddingScale !== 1, c.finalSoftcap > 0];
    return (
      FIXED_KERNELS +
      optional.filter(Boolean).length +
      roundingKinds(layers, output, inputs).size +
      weightKernels(layers, output, inputs).length
    );
  }

  /**
   * Builds every kernel the layers run (so the first token pays no compilation), counting each
   * with `built`, and the activations' scratch for `shape`.
   */
  static async load(
    gpu: GpuContext,
    c: ModelConfig,
    weights: WeightStore,
    layers: readonly Layer[],
    inputs: MatmulInputs,
    shape: LayerStackShape,
    built: <T>(kernel: Promise<T>) => Promise<T>,
  ): Promise<LayerStack> {
    const { attention, rope } = shape;
    const local = layers.some((l) => l.local);
    const set = new KernelSet(gpu, c.activation);
    const kernels: ForwardKernels = {
      embedding: await built(Embedding.load(gpu, weights.get('token_embd.weight').format)),
      lastRows: await built(Embedding.load(gpu, 'F32')),
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
      set,
    };
    const output = outputWeight(weights);
    const buffers: GPUBuffer[] = [];
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffer = async (label: string, bytes: number) => {
      const b = await gpu.createBuffer(Math.max(bytes, 16), storage, `scratch:${label}`);
      buffers.push(b);
      return b;
    };
    try {
      const T = shape.maxBatch;
      const E = c.embedding;
      const f32 = (label: string, floats: number) => buffer(label, floats * 4);
      const sizes = kernels.attention.scratchBytes(T, shape.contextSize);
      const scratch: Scratch = {
        x: await f32('x', T * E),
        x2: await f32('x2', T * E),
        h: await f32('h', T * E),
        q: await f32('q', T * c.heads * c.headDim),
        k: await f32('k', T * c.kvHeads * c.headDim),
        v: await f32('v', T * c.kvHeads * c.headDim),
        attn: await f32('attn', T * c.heads * c.headDim),
        gate: await f32('gate', T * c.feedForward),
        up: await f32('up', T * c.feedForward),
        act: await f32('act', T * c.feedForward),
        last: await f32('last', shape.maxEntries * E),
        proj: await f32('proj', T * Math.max(c.heads, c.kvHeads) * c.headDim),
        partAcc: await buffer('attn_acc', sizes.acc),
        partMl: await buffer('attn_ml', sizes.ml),
      };
      // A rounded copy of a matmul input per kind of dot input the weights need.
      const rounding = new Map<DotInput, RoundedInput>();
      const inputFloats = T * Math.max(E, c.feedForward, c.heads * c.headDim);
      for (const kind of roundingKinds(layers, output, inputs)) {
        rounding.set(kind, {
          kernel: await built(DotInputRounding.load(gpu, kind)),
          out: await f32(`in_${kind}`, inputFloats),
          ...(kind === 'q8_1' && {
            corrections: await f32('corrections_q8_1', Math.ceil(inputFloats / 32)),
          }),
        });
      }
      for (const { format, fusion, input, cols } of weightKernels(layers, output, inputs)) {
        await built<unknown>(
          fusion === 'gemm'
            ? set.gemm(format, inputs.gemmInput(format))
            : set.matvec(format, fusion, 1, input, cols),
        );
      }
      return new LayerStack(c, weights, layers, kernels, scratch, rounding, inputs, buffers);
    } catch (error) {
      for (const b of buffers) b.destroy();
      throw error;
    }
  }

  /** (maxBatch, embedding) f32: a 'hidden' step's final-norm hidden states. */
  get hidden(): GPUBuffer {
    return this.scratch.h;
  }

  /** Its activations' buffers, destroyed (the layers' caches are the decoder's). */
  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }

  /** The decode matvec over `w`'s format and rows, rounding x as it loads it (loadRounding). */
  private decodeMatvec(w: GpuTensor, fusion: MatvecFusion, tokens: number): Promise<Matvec> {
    const input = this.inputs.loadRounding(w.format);
    return this.kernels.set.matvec(w.format, fusion, tokens, input, w.info.dims[0]);
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
      const kind = this.inputs.inputKind(w);
      if (rounded.has(kind)) continue;
      if (kind === 'f32' || this.inputs.roundsOnLoad(w.format, tokens)) {
        rounded.set(kind, x);
        continue;
      }
      const { kernel, out, corrections } = this.rounding.get(kind)!;
      kernel.encode(batch, { x, out, n, corrections });
      rounded.set(kind, out);
    }
    return (w) => rounded.get(this.inputs.inputKind(w))!;
  }

  get output(): GpuTensor {
    return outputWeight(this.weights);
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
    // Up to matvecRows rows (decode steps of several sequences): one pass over the weights.
    if (tokens <= this.inputs.matvecRows) {
      const k = await this.decodeMatvec(w, bias ? 'bias' : 'none', tokens);
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
    const input = this.inputs.gemmInput(w.format);
    const gemm = await set.gemm(w.format, input);
    const weights = { buffer: w.buffer, offset: w.offset };
    // x came from roundInputs: for q8_1, its pass left the corrections in their scratch.
    const corrections = input === 'q8_1' ? this.rounding.get('q8_1')?.corrections : undefined;
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
   * matvecRows rows the matvec adds the residual as it writes (one dispatch); past that, the
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
    if (tokens <= this.inputs.matvecRows) {
      const k = await this.decodeMatvec(w, 'residual', tokens);
      k.encode(batch, { w: { buffer: w.buffer, offset: w.offset }, x, out, rows, cols, residual });
      return;
    }
    await this.project(batch, w, x, this.scratch.h, tokens);
    this.kernels.add.encode(batch, { a: residual, b: this.scratch.h, out, n: tokens * rows });
  }

  /**
   * Records a step's model: embedding, every layer, and the final norm (every row, `hidden`) or
   * each entry's last row's logits. Everything per step it reads comes from StepData and the
   * entries' lengths, so a recording serves every step of the same shape.
   */
  async encode(
    batch: ComputeBatch,
    step: StepData,
    entries: readonly { start: number; tokens: readonly number[] }[],
    T: number,
    out: { logits: GPUBuffer } | 'hidden',
  ): Promise<void> {
    const c = this.config;
    const { scratch: s, kernels: k } = this;
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
      // Where q and k are when attention and the KV write read them.
      let [q, kNew] = [s.q, s.k];
      // Gemma 3's local layers turn by a RoPE of their own.
      const angles = layer.local && c.ropeLocalBase ? step.ropeLocal : step.rope;
      if (layer.qkv && T <= this.inputs.matvecRows) {
        // Decode: q, k and v in one pass, q and k rotated as they are written.
        const fusion = layer.qkv.bias ? 'qkv_bias' : 'qkv';
        const fused = await this.decodeMatvec(layer.q, fusion, T);
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
          // Per-head RMSNorm of q and k (qwen3): rows are (token, head), into buffers free until
          // attention (a copy back would end the pass): q into proj, k into attn, which the
          // KV write reads before attention writes its output there.
          const heads: [GPUBuffer, GpuTensor, number, GPUBuffer][] = [
            [s.q, layer.qNorm, c.heads, s.proj],
            [s.k, layer.kNorm, c.kvHeads, s.attn],
          ];
          for (const [x, weight, count, out] of heads) {
            k.norm.encode(batch, {
              x,
              weight: at(weight),
              out,
              rows: T * count,
              n: c.headDim,
              eps: c.rmsEps,
            });
          }
          [q, kNew] = [s.proj, s.attn];
        }
        k.ropeQ.encode(batch, { x: q, cache: angles, tokens: T });
        k.ropeK.encode(batch, { x: kNew, cache: angles, tokens: T });
      }
      // Every entry's new rows into its own blocks, in one dispatch.
      k.kvWrite.encode(batch, {
        kNew,
        vNew: s.v,
        table: step.table,
        queries: step.queries,
        kCache: layer.kCache,
        vCache: layer.vCache,
        tokens: T,
      });
      (layer.local ? k.attentionLocal! : k.attention).encode(batch, {
        q,
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
      if (T <= this.inputs.matvecRows && layer.gateUpFused) {
        const fused = await this.decodeMatvec(layer.gate, 'gate_up', T);
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
    // token an entry) every row is one already; a prefill step gathers them (rows from StepData,
    // in the same pass: a copy would end it).
    const M = entries.length;
    let last = x;
    if (T !== M) {
      k.lastRows.encode(batch, {
        table: x,
        ids: step.last,
        out: s.last,
        tokens: M,
        vocab: T,
        dim: E,
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
    const logits = out.logits;
    await this.project(batch, this.output, outIn(this.output), logits, M);
    k.logitSoftcap?.encode(batch, { x: logits, n: M * c.vocabSize, value: c.finalSoftcap });
  }
}
