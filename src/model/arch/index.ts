import { GgufError } from '../../errors.js';
import type { GgufFile, GgufTensorInfo } from '../gguf/types.js';
import { exaone } from './exaone.js';
import { gemma2 } from './gemma2.js';
import { gemma3 } from './gemma3.js';
import { llama } from './llama.js';
import { phi3 } from './phi3.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';

/**
 * What sets an architecture apart, as data the loader and the decoder follow: the layer itself
 * (RMSNorm, attention with RoPE, a gated feed-forward, each added back into the residual) is the
 * same for all of them. Optional tensors (q/k/v biases, per-head q/k norms, post-norms, a tied
 * output) are found by name; what cannot be found by name is declared here.
 */
export interface ArchitectureSpec<Name extends string = string> {
  /** general.architecture, and the prefix of its hyperparameter keys. */
  name: Name;
  /** NeoX RoPE pairs (i, i + n / 2) rather than adjacent ones (2i, 2i + 1): llama.cpp's rope type. */
  ropeNeox: boolean;
  /**
   * Tensors the file stores fused, each split on load into the tensors the decoder reads, rows
   * in order (phi3's attn_qkv into q, k and v; its ffn_up into gate and up).
   */
  fused?: (shape: LayerShape) => FusedTensor[];
  /**
   * The tensor of RoPE frequency divisors (ropeDims / 2 values) for a context of `contextSize`
   * tokens, if the architecture has one: llama's rope_freqs (Llama 3.1), phi3's LongRoPE pair.
   */
  ropeFactors?: (file: GgufFile, contextSize: number) => string | undefined;
  /** The feed-forward gate's activation: SwiGLU's silu (default), or GeGLU's gelu (Gemma). */
  activation?: 'silu' | 'gelu';
  /** Embeddings multiplied by sqrt(width) before the first layer (Gemma). */
  scaleEmbedding?: boolean;
  /**
   * Local attention over attention.sliding_window keys on every layer but each Nth (llama.cpp's
   * set_swa_pattern: layer l is local when l % N < N - 1). Absent: every layer global, whatever
   * window the file names (phi3's is read and unused, as in llama.cpp).
   */
  swaPattern?: number;
  /** The local layers' RoPE base (rope.freq_base_swa), unscaled, when it is not the global's. */
  localRopeBase?: number;
}

/** What the fused tensors' rows split by. */
export interface LayerShape {
  qRows: number;
  kvRows: number;
  feedForward: number;
}

/** `blk.N.<name>`, rows in order: the parts, each `blk.N.<part>` of `rows` rows. */
export interface FusedTensor {
  name: string;
  parts: [name: string, rows: number][];
}

/** Every architecture agentgpu runs: adding one is its module and its line here. */
const specs = [llama, qwen2, qwen3, phi3, gemma2, gemma3, exaone] as const;

/** An architecture agentgpu runs, by its general.architecture name. */
export type Architecture = (typeof specs)[number]['name'];

/** Every architecture agentgpu runs, by general.architecture. */
export const architectures: ReadonlyMap<string, ArchitectureSpec<Architecture>> = new Map(
  specs.map((spec) => [spec.name, spec]),
);

/**
 * The file as the decoder reads it: every fused tensor the architecture declares replaced by
 * its parts, each a range of the same bytes (no copy; the parts start where a row does).
 */
export function splitFused(file: GgufFile, spec: ArchitectureSpec, shape: LayerShape): GgufFile {
  if (!spec.fused) return file;
  const fused = new Map(spec.fused(shape).map((f) => [f.name, f]));
  const tensors: GgufTensorInfo[] = [];
  for (const t of file.tensors) {
    const layer = /^blk\.(\d+)\.(.+)$/.exec(t.name);
    const f = layer && fused.get(layer[2]);
    if (!f) {
      tensors.push(t);
      continue;
    }
    const [cols, rows] = t.dims;
    const total = f.parts.reduce((n, [, r]) => n + r, 0);
    // A file that stores this part on its own already (ffn_up holding only the up rows).
    if (f.parts.some(([part, r]) => part === layer[2] && r === rows) && rows !== total) {
      tensors.push(t);
      continue;
    }
    if (t.dims.length !== 2 || rows !== total) {
      throw new GgufError(
        `tensor "${t.name}"`,
        0,
        `has dims [${t.dims.join(', ')}], but ${spec.name} splits it into ` +
          `${f.parts.map(([p, r]) => `${p} (${r} rows)`).join(', ')} of ${cols} values`,
      );
    }
    const rowBytes = t.byteSize / rows;
    let row = 0;
    for (const [part, count] of f.parts) {
      tensors.push({
        ...t,
        name: `blk.${layer[1]}.${part}`,
        dims: [cols, count],
        elements: cols * count,
        offset: t.offset + row * rowBytes,
        byteSize: count * rowBytes,
      });
      row += count;
    }
  }
  return { ...file, tensors };
}
