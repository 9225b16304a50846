import type { Binding } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { Gemm, type GemmOptions } from '../kernels/gemm.js';
import {
  Matvec,
  MATVEC_MAX_BATCH,
  type MatvecFusion,
  type MatvecOptions,
} from '../kernels/matvec.js';
import { dotInput, type DotInput, type QuantName } from '../quant/index.js';
import { isLocalLayer, type ModelConfig } from './config.js';
import type { GpuTensor, WeightStore } from './weights.js';

// A model's layers as the decoder holds them: each layer's weights (fused where they lie back
// to back) and K/V cache buffers, how every matmul's input meets its weights, and the
// weight-reading kernels they need.

/** Every weight-reading kernel a layer needs, per format (layers may mix formats). */
export class KernelSet {
  private readonly matvecs = new Map<string, Promise<Matvec>>();
  private readonly gemms = new Map<string, Promise<Gemm>>();
  /** `activation`: the feed-forward gate's, for the gate_up matvecs. */
  constructor(
    private readonly gpu: GpuContext,
    private readonly activation: 'silu' | 'gelu',
  ) {}

  /** `cols`: the rows' length, which a GPU's matvec is shaped by (MatvecOptions.cols). */
  matvec(
    format: QuantName,
    fusion: MatvecFusion = 'none',
    batch = 1,
    input: MatvecInput = 'f32',
    cols = 0,
  ): Promise<Matvec> {
    const key = `${format}:${fusion}:${batch}:${input}:${cols}`;
    let k = this.matvecs.get(key);
    const activation = this.activation;
    if (!k) {
      this.matvecs.set(
        key,
        (k = Matvec.load(this.gpu, { format, fusion, batch, input, activation, cols })),
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
export type MatvecInput = NonNullable<MatvecOptions['input']>;

/** What a GEMM's x is (GemmOptions.input): as it is (rounded or not), or q8_1 with corrections. */
export type GemmInput = NonNullable<GemmOptions['input']>;

/** A matvec (plain or fused, rounding its input or not) or a GEMM over one weight format. */
export interface WeightKernel {
  format: QuantName;
  fusion: MatvecFusion | 'gemm';
  input: MatvecInput;
  /** The weights' row length (a matvec's shape on a GPU; 0 for a GEMM). */
  cols: number;
}

/** The weights a layer multiplies by. */
export const matmulWeights = (l: Layer): GpuTensor[] => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down];

export interface Layer {
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

export const at = (t: GpuTensor): Binding => ({
  buffer: t.buffer,
  offset: t.offset,
  size: t.info.byteSize,
});

/**
 * How each matmul's input meets its weights: rounded as llama.cpp rounds it for the weight
 * format ('llama.cpp'), or kept in f32; and where the rounding happens (a pass of its own, or
 * the decode matvec as it loads x).
 */
export class MatmulInputs {
  constructor(
    private readonly mode: 'llama.cpp' | 'f32',
    /** Decode matvecs round q8_k inputs as they load them (matvecRoundsQ8K, short rows). */
    readonly q8kOnLoad: boolean,
    /** Prefill GEMMs round their inputs as they stage them (gemmRoundsInput), q8_1 aside. */
    readonly gemmOnLoad: boolean,
    /** The most rows a matmul takes as a matvec (matvecMaxRows), GEMMs past them. */
    readonly matvecRows: number,
  ) {
    if (matvecRows > MATVEC_MAX_BATCH) {
      throw new RangeError(`matvecs take up to ${MATVEC_MAX_BATCH} rows, not ${matvecRows}`);
    }
  }

  /** What a matmul's input is rounded to before meeting `w` (f32: not rounded). */
  inputKind(w: Pick<GpuTensor, 'format'>): DotInput {
    return this.mode === 'llama.cpp' ? dotInput[w.format] : 'f32';
  }

  /**
   * How a decode matvec over weights in `format` rounds x as it loads it: the dot input itself,
   * except q8_k on software adapters (matvecRoundsQ8K) or when some weight's rows are longer
   * than a matvec rounds (MATVEC_Q8_K_MAX_COLS): then a rounding pass first ('f32': as it is).
   */
  loadRounding(format: QuantName): MatvecInput {
    const kind = this.inputKind({ format });
    return kind === 'q8_k' && !this.q8kOnLoad ? 'f32' : kind;
  }

  /**
   * What the prefill GEMM over weights in `format` takes: x it rounds as it stages it (q8_0,
   * q8_k, f16, bf16, where gemmOnLoad), q8_1 rounded by its pass with
   * the corrections, or 'f32': x as it is (rounded by a pass first where it must be).
   */
  gemmInput(format: QuantName): GemmInput {
    const kind = this.inputKind({ format });
    if (kind === 'q8_1' || this.gemmOnLoad) return kind;
    return 'f32';
  }

  /** Whether `tokens` rows of x meet weights in `format` unrounded: the kernel rounds them. */
  roundsOnLoad(format: QuantName, tokens: number): boolean {
    if (tokens <= this.matvecRows) return this.loadRounding(format) !== 'f32';
    const input = this.gemmInput(format);
    return input !== 'f32' && input !== 'q8_1';
  }
}

/** The matvec and GEMM kernels the layers and the output projection need, each once. */
export function weightKernels(
  layers: readonly Layer[],
  output: GpuTensor,
  inputs: MatmulInputs,
): WeightKernel[] {
  const kernels = new Map<string, WeightKernel>();
  const add = (t: GpuTensor, fusion: WeightKernel['fusion']) => {
    const { format } = t;
    const gemm = fusion === 'gemm';
    const input = gemm ? inputs.gemmInput(format) : inputs.loadRounding(format);
    const cols = gemm ? 0 : t.info.dims[0];
    kernels.set(`${format}:${fusion}:${input}:${cols}`, { format, fusion, input, cols });
  };
  for (const layer of layers) {
    for (const t of matmulWeights(layer)) {
      add(t, 'none');
      add(t, 'gemm');
    }
    if (layer.qBias) add(layer.q, 'bias');
    if (layer.kBias) add(layer.k, 'bias');
    if (layer.vBias) add(layer.v, 'bias');
    if (layer.qkv) add(layer.q, layer.qkv.bias ? 'qkv_bias' : 'qkv');
    if (layer.gateUpFused) add(layer.gate, 'gate_up');
    // A post-norm (Gemma) comes between the projection and the residual add.
    if (!layer.attnPostNorm) add(layer.o, 'residual');
    if (!layer.ffnPostNorm) add(layer.down, 'residual');
  }
  add(output, 'none');
  return [...kernels.values()];
}

/** The output projection's weights: output.weight, or the tied embedding. */
export function outputWeight(weights: WeightStore): GpuTensor {
  return weights.has('output.weight')
    ? weights.get('output.weight')
    : weights.get('token_embd.weight');
}

/** A layer's K and V cache buffers: both, or neither when the second cannot be had. */
async function cachePair(gpu: GpuContext, bytes: number, layer: string) {
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const kCache = await gpu.createBuffer(bytes, storage, `${layer}.k_cache`);
  try {
    return { kCache, vCache: await gpu.createBuffer(bytes, storage, `${layer}.v_cache`) };
  } catch (error) {
    kCache.destroy();
    throw error;
  }
}

/**
 * The fused q/k/v projection's weights and biases, when they lie back to back in one buffer
 * (WeightStore's groups) and the heads are rotated right after it (not normed first: qwen3).
 */
function fusedQkv(
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

/**
 * Every layer's weights from the store, and its K and V cache buffers of `cacheBytes` each
 * (every sequence's blocks); gate and up, and q, k and v, found fused where they lie back to
 * back (WeightStore's groups).
 */
export async function loadLayers(
  gpu: GpuContext,
  c: ModelConfig,
  w: WeightStore,
  cacheBytes: number,
): Promise<Layer[]> {
  const layers: Layer[] = [];
  try {
    for (let l = 0; l < c.layers; l++) {
      const b = `blk.${l}`;
      const opt = (name: string) => (w.has(`${b}.${name}`) ? w.get(`${b}.${name}`) : undefined);
      const gate = w.get(`${b}.ffn_gate.weight`);
      const up = w.get(`${b}.ffn_up.weight`);
      const q = w.get(`${b}.attn_q.weight`);
      const k = w.get(`${b}.attn_k.weight`);
      const v = w.get(`${b}.attn_v.weight`);
      const biases = [opt('attn_q.bias'), opt('attn_k.bias'), opt('attn_v.bias')];
      layers.push({
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
        qkv: fusedQkv([q, k, v], biases, !!opt('attn_q_norm.weight')),
        ...(await cachePair(gpu, cacheBytes, b)),
      });
    }
  } catch (error) {
    destroyCaches(layers);
    throw error;
  }
  return layers;
}

/** The layers' K and V cache buffers, destroyed. */
export function destroyCaches(layers: readonly Layer[]): void {
  for (const layer of layers) {
    layer.kCache.destroy();
    layer.vCache.destroy();
  }
}
