/** YaRN context extension (llama.cpp's rope_yarn), for models trained on a shorter context. */
export interface YarnConfig {
  /** The context the model was trained on (n_ctx_orig). */
  origContext: number;
  /** How much of the extrapolated angle to mix back in on the high-frequency dims (usually 1). */
  extFactor: number;
  /** Scales cos and sin (usually 1); multiplied by 1 + 0.1 ln(1 / freqScale) when extFactor ≠ 0. */
  attnFactor?: number;
  /** Dims rotating more than betaFast turns over origContext keep extrapolated angles (32). */
  betaFast?: number;
  /** Dims rotating less than betaSlow turns keep interpolated ones (1). */
  betaSlow?: number;
}

export interface RopeConfig {
  heads: number;
  headDim: number;
  /** Rotated elements per head (even, ≤ headDim). */
  ropeDims: number;
  freqBase: number;
  /** Linear position scaling, 1 / factor. */
  freqScale: number;
  /** NeoX pairs (x[i], x[i + d/2]) instead of adjacent (x[2i], x[2i+1]). */
  neox: boolean;
  yarn?: YarnConfig;
}

/** llama.cpp's ggml_rope_yarn_corr_dims: the pair range over which YaRN ramps. */
export function yarnCorrDims(
  ropeDims: number,
  freqBase: number,
  yarn: YarnConfig,
): [number, number] {
  const dim = (rotations: number) =>
    (ropeDims * Math.log(yarn.origContext / (rotations * 2 * Math.PI))) / (2 * Math.log(freqBase));
  const start = Math.floor(dim(yarn.betaFast ?? 32));
  const end = Math.ceil(dim(yarn.betaSlow ?? 1));
  return [Math.max(0, start), Math.min(ropeDims - 1, end)];
}

/** The cos/sin multiplier: attnFactor, and YaRN's 1 + 0.1 ln(1 / freqScale) when it extrapolates. */
export function ropeMscale(c: RopeConfig): number {
  const yarn = c.yarn;
  const attn = yarn?.attnFactor ?? 1;
  return yarn && yarn.extFactor !== 0 ? attn * (1 + 0.1 * Math.log(1 / c.freqScale)) : attn;
}

/**
 * x (tokens, heads, headDim), positions (tokens,), freqFactors (ropeDims / 2,) or none ->
 * rotated copy of x. Pair i turns by pos · freqBase^(-2i/ropeDims) / freqFactors[i], scaled
 * (linear) or blended (YaRN) as llama.cpp does.
 */
export function ropeReference(
  x: Float32Array,
  positions: Uint32Array,
  c: RopeConfig,
  freqFactors?: Float32Array,
): Float32Array {
  const out = x.slice();
  const half = c.ropeDims / 2;
  const [low, high] = c.yarn ? yarnCorrDims(c.ropeDims, c.freqBase, c.yarn) : [0, 0];
  const ext = c.yarn?.extFactor ?? 0;
  const mscale = ropeMscale(c);
  for (let t = 0; t < positions.length; t++) {
    for (let h = 0; h < c.heads; h++) {
      const base = (t * c.heads + h) * c.headDim;
      for (let i = 0; i < half; i++) {
        const extrap =
          (positions[t] * c.freqBase ** ((-2 * i) / c.ropeDims)) / (freqFactors?.[i] ?? 1);
        const interp = c.freqScale * extrap;
        let theta = interp;
        if (ext !== 0) {
          const ramp =
            (1 - Math.min(1, Math.max(0, (i - low) / Math.max(0.001, high - low)))) * ext;
          theta = interp * (1 - ramp) + extrap * ramp;
        }
        const [a, b] = c.neox ? [base + i, base + i + half] : [base + 2 * i, base + 2 * i + 1];
        const x0 = x[a];
        const x1 = x[b];
        out[a] = (x0 * Math.cos(theta) - x1 * Math.sin(theta)) * mscale;
        out[b] = (x0 * Math.sin(theta) + x1 * Math.cos(theta)) * mscale;
      }
    }
  }
  return out;
}
