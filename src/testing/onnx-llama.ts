// A GGUF decoder (llama, qwen2) exported to ONNX as onnxruntime-genai exports such models, so
// onnxruntime runs the same weights as agentgpu and llama.cpp: MatMulNBits (com.microsoft) for
// the 4-bit and 8-bit block formats — Q4_0 and Q8_0 map onto it exactly, scale for scale — and
// float32 MatMul for everything else (dequantized); GroupQueryAttention with its own rotary
// embedding and a K/V cache passed in and out; SimplifiedLayerNormalization for RMSNorm.
//
// llama.cpp's llama rotates adjacent pairs (2i, 2i+1); onnxruntime's WebGPU GroupQueryAttention
// only rotates halves (i, i + d/2). The export reorders each head's q and k rows — even
// dimensions first, then odd (undoing what convert_hf_to_gguf.py did) — so the halves are the
// pairs: q·k sums over all dimensions and does not see the order.
//
// Inputs:  input_ids int64 [1, S]; seqlens_k int32 [1] (= past + S - 1);
//          total_sequence_length int32 [] (= past + S); past_key_values.{l}.key/.value
//          float [1, kvHeads, past, headDim].
// Outputs: logits float [1, S, vocab]; present.{l}.key/.value float [1, kvHeads, past + S,
//          headDim].
import type * as OrtModule from 'onnxruntime-web';
import { modelConfig, type ModelConfig } from '../model/config.js';
import { parseGguf } from '../model/gguf/reader.js';
import type { GgufTensorInfo } from '../model/gguf/types.js';
import { quantFormats, readF16 } from '../quant/index.js';
import { formatOfTensor } from '../model/weights.js';
import { writeOnnx, type OnnxNode, type OnnxTensor } from './onnx-writer.js';

export interface OnnxExport {
  onnx: Uint8Array;
  config: ModelConfig;
  /** How each 2-D weight went in: 'MatMulNBits 4-bit', 'MatMul f32', ... */
  matmul: string;
}

/** The largest position the rotary tables cover (the graph's context length). */
const DEFAULT_POSITIONS = 2048;

export interface OnnxExportOptions {
  /** The largest position the rotary tables cover (default: the context length, ≤ 2048). */
  positions?: number;
  /**
   * Q8_0 as 8-bit MatMulNBits (default true). onnxruntime-web's WebGPU EP takes only 2- and
   * 4-bit MatMulNBits: for it, Q8_0 goes in as float MatMul (the same values, dequantized).
   */
  nbits8?: boolean;
}

export function ggufToOnnx(bytes: Uint8Array, options: OnnxExportOptions = {}): OnnxExport {
  const file = parseGguf(bytes);
  const config = modelConfig(file);
  if (config.architecture === 'qwen3' || config.yarn || config.ropeScale !== 1) {
    throw new Error(
      `ONNX export covers llama and qwen2 without rope scaling; this model is ${config.architecture}`,
    );
  }
  const positions = options.positions ?? Math.min(config.contextLength, DEFAULT_POSITIONS);
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const tensor = (name: string): GgufTensorInfo => {
    const t = byName.get(name);
    if (!t) throw new Error(`ONNX export: the GGUF has no tensor "${name}"`);
    return t;
  };
  const raw = (t: GgufTensorInfo) =>
    bytes.subarray(file.dataOffset + t.offset, file.dataOffset + t.offset + t.byteSize);
  const interleaved = !config.ropeNeox;
  if (interleaved && config.ropeDims !== config.headDim) {
    throw new Error('ONNX export: a llama model with partial rotary dimensions is not covered');
  }
  const data = (t: GgufTensorInfo) =>
    interleaved && /attn_[qk]\.(weight|bias)$/.test(t.name)
      ? halvesFirst(raw(t), t.dims[1] ?? t.dims[0], config.headDim)
      : raw(t);
  const floats = (t: GgufTensorInfo) =>
    quantFormats[formatOfTensor(t)].dequantize(data(t), t.elements);

  const initializers: OnnxTensor[] = [];
  const nodes: OnnxNode[] = [];
  const kinds = new Set<string>();
  const { embedding: E, heads, kvHeads, headDim, vocabSize: V, rmsEps } = config;

  /** y = x · Wᵀ for the GGUF matrix `name` ([rows N][cols K]). */
  const linear = (x: string, name: string, y: string) => {
    const t = tensor(name);
    const [K, N] = t.dims;
    const format = formatOfTensor(t);
    if (format === 'Q4_0' || (format === 'Q8_0' && options.nbits8 !== false)) {
      const { packed, scales, bits } = blocksForMatMulNBits(data(t), format, N, K);
      initializers.push(
        { name: `${name}.q`, type: 'uint8', dims: [N, K / 32, (32 * bits) / 8], data: packed },
        { name: `${name}.scales`, type: 'float', dims: [N * (K / 32)], data: scales },
      );
      nodes.push({
        op: 'MatMulNBits',
        domain: 'com.microsoft',
        inputs: [x, `${name}.q`, `${name}.scales`],
        outputs: [y],
        attributes: { K, N, bits, block_size: 32 },
      });
      kinds.add(`MatMulNBits ${bits}-bit`);
    } else {
      // MatMul wants B as [K][N]: the GGUF rows transposed.
      const w = floats(t);
      const transposed = new Float32Array(K * N);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) transposed[k * N + n] = w[n * K + k];
      }
      initializers.push({ name, type: 'float', dims: [K, N], data: transposed });
      nodes.push({ op: 'MatMul', inputs: [x, name], outputs: [y] });
      kinds.add(`MatMul f32 (from ${format})`);
    }
    const bias = byName.get(name.replace(/\.weight$/, '.bias'));
    if (bias) {
      initializers.push({ name: bias.name, type: 'float', dims: [N], data: floats(bias) });
      nodes.push({ op: 'Add', inputs: [y, bias.name], outputs: [`${y}.biased`] });
      return `${y}.biased`;
    }
    return y;
  };
  const norm = (x: string, name: string, y: string) => {
    const t = tensor(name);
    initializers.push({ name, type: 'float', dims: [t.elements], data: floats(t) });
    nodes.push({
      op: 'SimplifiedLayerNormalization',
      inputs: [x, name],
      outputs: [y],
      attributes: { axis: -1, epsilon: { float: rmsEps }, stash_type: 1 },
    });
    return y;
  };

  // Token embeddings as a float table.
  const embd = tensor('token_embd.weight');
  initializers.push({ name: 'embed', type: 'float', dims: [V, E], data: floats(embd) });
  nodes.push({ op: 'Gather', inputs: ['embed', 'input_ids'], outputs: ['h.0'] });

  // Rotary tables, [positions][rotary dims / 2], as GroupQueryAttention reads them.
  const half = config.ropeDims / 2;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * Math.pow(config.ropeBase, (-2 * i) / config.ropeDims);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  initializers.push(
    { name: 'cos_cache', type: 'float', dims: [positions, half], data: cos },
    { name: 'sin_cache', type: 'float', dims: [positions, half], data: sin },
  );

  let h = 'h.0';
  for (let l = 0; l < config.layers; l++) {
    const b = `blk.${l}`;
    const x = norm(h, `${b}.attn_norm.weight`, `${b}.attn_in`);
    const q = linear(x, `${b}.attn_q.weight`, `${b}.q`);
    const k = linear(x, `${b}.attn_k.weight`, `${b}.k`);
    const v = linear(x, `${b}.attn_v.weight`, `${b}.v`);
    nodes.push({
      op: 'GroupQueryAttention',
      domain: 'com.microsoft',
      inputs: [
        q,
        k,
        v,
        `past_key_values.${l}.key`,
        `past_key_values.${l}.value`,
        'seqlens_k',
        'total_sequence_length',
        'cos_cache',
        'sin_cache',
      ],
      outputs: [`${b}.attn`, `present.${l}.key`, `present.${l}.value`],
      attributes: {
        num_heads: heads,
        kv_num_heads: kvHeads,
        do_rotary: 1,
        // Halves: llama's q and k rows are reordered to match (above).
        rotary_interleaved: 0,
        scale: { float: 1 / Math.sqrt(headDim) },
      },
    });
    const o = linear(`${b}.attn`, `${b}.attn_output.weight`, `${b}.attn_out`);
    nodes.push({ op: 'Add', inputs: [h, o], outputs: [`${b}.h_attn`] });
    const f = norm(`${b}.h_attn`, `${b}.ffn_norm.weight`, `${b}.ffn_in`);
    const gate = linear(f, `${b}.ffn_gate.weight`, `${b}.gate`);
    const up = linear(f, `${b}.ffn_up.weight`, `${b}.up`);
    nodes.push(
      { op: 'Sigmoid', inputs: [gate], outputs: [`${b}.gate_sigmoid`] },
      { op: 'Mul', inputs: [gate, `${b}.gate_sigmoid`], outputs: [`${b}.silu`] },
      { op: 'Mul', inputs: [`${b}.silu`, up], outputs: [`${b}.swiglu`] },
    );
    const down = linear(`${b}.swiglu`, `${b}.ffn_down.weight`, `${b}.down`);
    h = `h.${l + 1}`;
    nodes.push({ op: 'Add', inputs: [`${b}.h_attn`, down], outputs: [h] });
  }
  const out = norm(h, 'output_norm.weight', 'h.final');
  linear(out, config.tiedEmbeddings ? 'token_embd.weight' : 'output.weight', 'logits');

  const kvShape = (past: string) => [1, kvHeads, past, headDim];
  const onnx = writeOnnx({
    opset: 17,
    domains: { 'com.microsoft': 1 },
    nodes,
    initializers,
    inputs: [
      { name: 'input_ids', type: 'int64', shape: [1, 'sequence'] },
      { name: 'seqlens_k', type: 'int32', shape: [1] },
      { name: 'total_sequence_length', type: 'int32', shape: [] },
      ...Array.from({ length: config.layers }, (_, l) => [
        { name: `past_key_values.${l}.key`, type: 'float' as const, shape: kvShape('past') },
        { name: `past_key_values.${l}.value`, type: 'float' as const, shape: kvShape('past') },
      ]).flat(),
    ],
    outputs: [
      { name: 'logits', type: 'float', shape: [1, 'sequence', V] },
      ...Array.from({ length: config.layers }, (_, l) => [
        { name: `present.${l}.key`, type: 'float' as const, shape: kvShape('total') },
        { name: `present.${l}.value`, type: 'float' as const, shape: kvShape('total') },
      ]).flat(),
    ],
  });
  return { onnx, config, matmul: [...kinds].join(', ') };
}

/**
 * `rows` rows of a tensor (any format: whole rows move) with each head's rows reordered, even
 * ones first: new row i of a head is old row 2i, new row d/2 + i is old row 2i + 1.
 */
function halvesFirst(bytes: Uint8Array, rows: number, headDim: number): Uint8Array {
  const rowBytes = bytes.length / rows;
  const out = new Uint8Array(bytes.length);
  for (let r = 0; r < rows; r++) {
    const head = r - (r % headDim);
    const i = r % headDim;
    const from = head + (i < headDim / 2 ? 2 * i : 2 * (i - headDim / 2) + 1);
    out.set(bytes.subarray(from * rowBytes, (from + 1) * rowBytes), r * rowBytes);
  }
  return out;
}

/**
 * GGUF Q4_0 / Q8_0 rows as MatMulNBits wants them: per row N, per 32-value block, the values
 * packed in order (4-bit: two a byte, the first in the low nibble) with the default zero point
 * (8, or 128 for 8-bit), and one float scale per block. Q4_0 keeps value j in byte j's low
 * nibble and value j + 16 in its high one, so its nibbles are reordered; Q8_0's signed bytes
 * are offset by 128. The scales are the blocks' own f16 d, widened.
 */
function blocksForMatMulNBits(
  bytes: Uint8Array,
  format: 'Q4_0' | 'Q8_0',
  rows: number,
  cols: number,
): { packed: Uint8Array; scales: Float32Array; bits: number } {
  const blocks = (rows * cols) / 32;
  const scales = new Float32Array(blocks);
  const halves = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'Q4_0') {
    const packed = new Uint8Array(blocks * 16);
    for (let b = 0; b < blocks; b++) {
      const o = b * 18;
      scales[b] = readF16(bytes, o);
      const value = (j: number) => (j < 16 ? bytes[o + 2 + j] & 0xf : bytes[o + 2 + j - 16] >> 4);
      for (let i = 0; i < 16; i++) packed[b * 16 + i] = value(2 * i) | (value(2 * i + 1) << 4);
    }
    return { packed, scales, bits: 4 };
  }
  const packed = new Uint8Array(blocks * 32);
  for (let b = 0; b < blocks; b++) {
    const o = b * 34;
    scales[b] = readF16(bytes, o);
    for (let j = 0; j < 32; j++) packed[b * 32 + j] = (halves.getInt8(o + 2 + j) + 128) & 0xff;
  }
  return { packed, scales, bits: 8 };
}

type Ort = typeof OrtModule;
type OrtTensor = OrtModule.Tensor;

/**
 * Greedy decoding with an exported model on one onnxruntime session: the K/V cache goes out as
 * present.* and back in as past_key_values.*, kept on the GPU under the WebGPU EP (as
 * onnxruntime-genai keeps it) and only the logits read back.
 */
export class OnnxLlama {
  private past: OrtTensor[] = [];
  private length = 0;

  private constructor(
    private readonly ort: Ort,
    private readonly session: OrtModule.InferenceSession,
    readonly config: ModelConfig,
  ) {}

  static async create(
    ort: Ort,
    onnx: Uint8Array,
    config: ModelConfig,
    executionProvider: 'wasm' | 'webgpu' = 'wasm',
  ): Promise<OnnxLlama> {
    const presents = Array.from({ length: config.layers }, (_, l) => [
      `present.${l}.key`,
      `present.${l}.value`,
    ]).flat();
    const session = await ort.InferenceSession.create(onnx, {
      executionProviders: [executionProvider],
      graphOptimizationLevel: 'all',
      ...(executionProvider === 'webgpu' && {
        preferredOutputLocation: Object.fromEntries(
          presents.map((name) => [name, 'gpu-buffer' as const]),
        ),
      }),
    });
    const model = new OnnxLlama(ort, session, config);
    model.reset();
    return model;
  }

  /** Forgets the sequence: the next run starts at position 0. */
  reset(): void {
    for (const t of this.past) if (t.location === 'gpu-buffer') t.dispose();
    const { layers, kvHeads, headDim } = this.config;
    this.past = Array.from(
      { length: 2 * layers },
      () => new this.ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]),
    );
    this.length = 0;
  }

  /** Feeds `tokens` after the sequence so far; the logits after the last of them. */
  async run(tokens: number[]): Promise<Float32Array> {
    const { ort } = this;
    const total = this.length + tokens.length;
    const feeds: Record<string, OrtTensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
      seqlens_k: new ort.Tensor('int32', Int32Array.of(total - 1), [1]),
      total_sequence_length: new ort.Tensor('int32', Int32Array.of(total), []),
    };
    for (let l = 0; l < this.config.layers; l++) {
      feeds[`past_key_values.${l}.key`] = this.past[2 * l];
      feeds[`past_key_values.${l}.value`] = this.past[2 * l + 1];
    }
    const out = await this.session.run(feeds);
    for (const t of this.past) if (t.location === 'gpu-buffer') t.dispose();
    this.past = Array.from({ length: this.config.layers }, (_, l) => [
      out[`present.${l}.key`],
      out[`present.${l}.value`],
    ]).flat();
    this.length = total;
    const logits = out.logits;
    const all = (await logits.getData()) as Float32Array;
    logits.dispose();
    const V = this.config.vocabSize;
    return all.slice((tokens.length - 1) * V, tokens.length * V);
  }

  async release(): Promise<void> {
    for (const t of this.past) if (t.location === 'gpu-buffer') t.dispose();
    this.past = [];
    await this.session.release();
  }
}
