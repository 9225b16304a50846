// RoPE's angles as llama.cpp computes them (its f32 steps, YaRN, per-pair frequency factors):
// the table the rope kernels and the decoder's step data turn q and k by.

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

const f32 = Math.fround;

/**
 * The cos and sin each pair turns by, as llama.cpp's CPU computes them (ggml_rope_cache_init
 * and rope_yarn), in its f32 steps: theta starts at the position and is multiplied by
 * freqBase^(-2 / ropeDims) pair after pair; cos and sin (correctly rounded, as glibc's cosf and
 * sinf) are multiplied by the magnitude scale. positions (tokens,), freqFactors (ropeDims / 2,)
 * -> (tokens, ropeDims / 2, 2): cos, sin.
 */
export function ropeCache(
  positions: ArrayLike<number>,
  c: RopeConfig,
  freqFactors?: Float32Array,
): Float32Array {
  const half = c.ropeDims / 2;
  const out = new Float32Array(positions.length * half * 2);
  const thetaScale = f32(Math.pow(c.freqBase, f32(-2 / c.ropeDims)));
  const [low, high] = c.yarn ? yarnCorrDims(c.ropeDims, c.freqBase, c.yarn) : [0, 0];
  const ext = f32(c.yarn?.extFactor ?? 0);
  const freqScale = f32(c.freqScale);
  const attn = f32(c.yarn?.attnFactor ?? 1);
  // rope_yarn's mscale *= 1 + 0.1 logf(1 / freq_scale) when it extrapolates.
  const mscale =
    ext !== 0 ? f32(attn * f32(1 + f32(0.1 * f32(Math.log(f32(1 / freqScale)))))) : attn;
  for (let t = 0; t < positions.length; t++) {
    let theta = f32(positions[t]);
    for (let i = 0; i < half; i++) {
      const extrap = f32(theta / f32(freqFactors?.[i] ?? 1));
      const interp = f32(freqScale * extrap);
      let angle = interp;
      if (ext !== 0) {
        const y = f32(f32(i - low) / Math.max(0.001, f32(high - low)));
        const ramp = f32(f32(1 - Math.min(1, Math.max(0, y))) * ext);
        angle = f32(f32(interp * f32(1 - ramp)) + f32(extrap * ramp));
      }
      out[(t * half + i) * 2] = f32(f32(Math.cos(angle)) * mscale);
      out[(t * half + i) * 2 + 1] = f32(f32(Math.sin(angle)) * mscale);
      theta = f32(theta * thetaScale);
    }
  }
  return out;
}
