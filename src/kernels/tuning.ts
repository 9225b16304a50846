// Tuning constants, one place, a reason each. Change them with a benchmark in hand.
import { integerDotFormat, type DotInput } from '../quant/dot-input.js';
import type { QuantName } from '../quant/index.js';

/**
 * Invocations per workgroup for the row-reduction kernels (RMSNorm, softmax). 256 is the
 * WebGPU default limit for maxComputeInvocationsPerWorkgroup, so it runs everywhere, and it is
 * 8 NVIDIA warps / 4 AMD wave64s: enough loads in flight to cover memory latency on one row.
 * Must be a power of two for the workgroup-memory reduction.
 */
export const ROW_REDUCE_WORKGROUP = 256;

/**
 * The row-reduction workgroup for a CPU device (SwiftShader): there every barrier switches
 * between the stacks of all the workgroup's 4-wide subgroups, so 64 invocations (16 switches)
 * instead of 256 took a 64 x 512 RMSNorm from 21 to 3.6 ms, with the same loads.
 */
export const ROW_REDUCE_WORKGROUP_SOFTWARE = 64;

export function rowReduceWorkgroup(facts: { software: boolean }): number {
  return facts.software ? ROW_REDUCE_WORKGROUP_SOFTWARE : ROW_REDUCE_WORKGROUP;
}

/** Invocations per workgroup of the copy kernel: the portable maximum, as for the reductions. */
export const COPY_WORKGROUP = 256;

/**
 * Workgroups the copy kernel's grid-stride loop is spread over: 4096 x 256 invocations keeps
 * every SM/CU of a large GPU busy with several waves, and the loop covers any size beyond.
 */
export const COPY_WORKGROUPS = 4096;

/**
 * Invocations per matvec workgroup: 2 WG / T rows each; 256 runs everywhere (see above). On a
 * GPU, 64 (4 rows a workgroup with 32-wide subgroups: 1,024 workgroups for 4,096 rows) puts the
 * same warps in more, smaller workgroups; bench:kernels times 64, 128 and 256 side by side on a
 * GPU, and this stays 256 until a GPU run shows which wins there.
 */
export const MATVEC_WORKGROUP = 256;

/** Matvec workgroup sizes bench:kernels compares on a GPU. */
export const MATVEC_WORKGROUP_CHOICES = [64, 128, 256] as const;

/**
 * Invocations per matvec row when a row cannot be exactly one subgroup (no subgroups, or a
 * subgroup size that varies): 32 is a warp on NVIDIA/Apple and half a wave64 on AMD, and for a
 * 4096-wide Q4_K row gives each invocation 4 units of 32 weights. Rows of one workgroup meet
 * after a single barrier, which is what a CPU implementation (SwiftShader) pays most for.
 */
export const MATVEC_THREADS_PER_ROW = 32;

/**
 * Subgroups per matvec lane group (two rows) for rows of `cols` values on an adapter whose
 * subgroups are `subgroupSize` wide: 1 on a software adapter (a barrier there costs more than
 * the loads it spreads); on a GPU as many as give each invocation two or more 32-value units,
 * up to 4. One subgroup per two rows puts only rows / 2 subgroups in flight (2,048 for 4,096
 * rows, ~15 a 132-SM GPU's SM: each with a few loads out, too few bytes in flight to cover
 * memory latency); llama.cpp's CUDA mmvq takes four warps per row. 4096-wide rows get 2
 * subgroups, 8192 and wider 4, 2048 and narrower 1. Unmeasured on a GPU: bench:kernels
 * compares 1, 2 and 4.
 */
export function matvecSubgroupsPerRow(
  facts: { software: boolean },
  cols: number,
  subgroupSize: number,
): number {
  if (facts.software) return 1;
  const units = Math.ceil(cols / 32);
  let subgroups = 1;
  while (subgroups < MATVEC_MAX_SUBGROUPS_PER_ROW && 2 * subgroups * subgroupSize * 2 <= units) {
    subgroups *= 2;
  }
  return subgroups;
}

/** The most subgroups a matvec lane group takes (matvecSubgroupsPerRow). */
export const MATVEC_MAX_SUBGROUPS_PER_ROW = 4;

/**
 * Invocations per matvec row on a software adapter without subgroups: each row's partial sums
 * are read back serially by its first invocation, and SwiftShader pays per read, so 4 (its
 * SIMD width) rather than 32: about 3x faster there.
 */
export const MATVEC_THREADS_PER_ROW_SOFTWARE = 4;

export function matvecThreadsPerRow(facts: { software: boolean }): number {
  return facts.software ? MATVEC_THREADS_PER_ROW_SOFTWARE : MATVEC_THREADS_PER_ROW;
}

/**
 * Whether decode matvecs round x to q8_K as they load it (each workgroup first finds the
 * 256-value blocks' scales, behind two barriers) rather than after a dot_input pass. On
 * SwiftShader, where the barriers switch every invocation's stack and each workgroup re-reads
 * x, it took S Q4_K decode from 6.0 to 2.7 tok/s: software adapters keep the pass. On a GPU it
 * saves 4 dispatches a layer (12 to 8) and their barriers; its speed there is unmeasured.
 */
export function matvecRoundsQ8K(facts: { software: boolean }): boolean {
  return !facts.software;
}

/**
 * Whether the matmuls multiply 8-bit integers (dot4I8Packed) where the weights' input is q8_0
 * or q8_k, rounded as x is loaded (matvec) or staged (GEMM's main_idot). A decode matvec takes
 * 8 dot4I8Packed and a few masks per row and 32 values, where the float path decodes each
 * weight to f32 (~40 operations) and takes 32 multiply-adds: on a GPU it is bound by those
 * operations, not by memory (issue 20's reading). A GEMM output takes 8 dot4I8Packed a unit
 * where the float tile takes 32 multiply-adds and 8 staged 16-byte loads (shared by 4
 * outputs), and its staged unit is 48 bytes a row, not 128. On SwiftShader (where
 * dot4I8Packed is emulated) S Q4_0 decode measured the same either way, 4.6-5.3 tok/s, and
 * batches of 2-8 slower (5.2-5.9 against 6.8-8.4 tok/s): software adapters keep the float
 * path (their GEMM stages no rounding anyway: gemmRoundsInput). The GPU figures are
 * unmeasured; bench:kernels compares both.
 */
export function integerProducts(
  facts: { software: boolean; features: { packedIntegerDot: boolean } },
  format: QuantName,
  input: DotInput,
): boolean {
  return !facts.software && facts.features.packedIntegerDot && integerDotFormat(format, input);
}

/**
 * Whether a decode matvec with integer products rounds x once per workgroup into workgroup
 * memory (as many units of each row at a time as fit: matvecStagedUnits), rather than in every
 * lane group for each unit it meets: rounding a unit (8 vector loads, its largest |x|, 32
 * roundings, packing and two sums: ~55 operations) costs about what the lane group's two rows'
 * products of it do, so staging it once for the workgroup's rows (4 to 16 at 256 invocations,
 * by how many subgroups a lane group takes) takes a half to a fifth of the operations. A GPU's
 * figure is unmeasured (bench:kernels compares both); on a software adapter the integer
 * products are off (integerProducts).
 */
export function matvecStagesX(facts: { software: boolean }): boolean {
  return !facts.software;
}

/**
 * Whether decode matvecs read their weights 16 bytes a load where the rows allow (Q4_K, Q5_K,
 * float rows of whole 16 bytes: matvecWideLoadRows), bound as vec4s: a Q4_K unit's 8 words in 2 loads, its block's d, dmin and scales in 1 (4 before), an
 * F32 unit in 8 loads, not 32; each load an instruction, an address and (Dawn's robustness) a
 * bounds clamp, where a GPU's integer matvec is bound by instructions, not bytes. llama.cpp's
 * Vulkan and CUDA mat-vec kernels read 16 bytes a load where blocks allow. Unmeasured on a GPU
 * (bench:kernels compares both); software adapters keep 4-byte loads (their figures are the
 * ones measured).
 */
export function matvecWideLoads(facts: { software: boolean }): boolean {
  return !facts.software;
}

/**
 * The most rows of x (sequences decoding at once) a matmul takes as a matvec, past which it is
 * a GEMM: each matvec reads every weight once for all its rows, so the weights' bytes are read
 * once a step however many sequences decode; the GEMM's tiles re-read them per 32 or 64 rows but
 * compute in tiles. On SwiftShader the GEMM past 8 rows is what was measured (batched decode at
 * 9+ sequences); on a GPU, where decode is bound by reading the weights, matvecs up to 16 rows
 * (llama.cpp's CUDA backend takes its mmvq up to 8, its Vulkan mul_mat_vec up to 8, MLC's GEMV
 * up to 16 and more). Unmeasured on a GPU: bench:kernels times the matvec at 16 rows.
 */
export function matvecMaxRows(facts: { software: boolean }): number {
  return facts.software ? 8 : 16;
}

/**
 * Whether the prefill GEMM rounds x to q8_0/q8_k/f16/bf16 as it stages it, rather than after
 * a dot_input pass. On SwiftShader the staging reads each unit of x twice (its largest |x|, then
 * its values) for every tile: S Q4_0 prefill went from 27.2-27.3 to 23.3-24.9 tok/s, so software
 * adapters keep the pass. On a GPU it saves a pass per matmul input; its speed is unmeasured.
 */
export function gemmRoundsInput(facts: { software: boolean }): boolean {
  return !facts.software;
}

/**
 * Whether the prefill GEMM over F16 weights, x rounded to f16 as llama.cpp rounds it for them,
 * stages its tiles as f16s (gemm.wgsl's STAGE_F16: the same values, exactly, in half the
 * workgroup memory and half the bytes a staged read, widened to f32 for the multiply-adds, the
 * sums f32). Where the adapter has shader-f16, on a GPU: the tiles' reads are what a GPU's
 * float GEMM waits on (4 x 4 outputs an invocation read 32 bytes for 16 multiply-adds), and a
 * software adapter has no shader-f16 here. Unmeasured on a GPU: bench:kernels compares both.
 * Other formats' dequantized weights (d times a small integer) are not f16s exactly.
 */
export function gemmStagesF16(
  facts: { software: boolean; features: { shaderF16: boolean } },
  format: QuantName,
  input: DotInput,
): boolean {
  return !facts.software && facts.features.shaderF16 && format === 'F16' && input === 'f16';
}

/**
 * Invocations per workgroup of the one-item-per-invocation kernels (elementwise, RoPE,
 * embedding rows): enough for full occupancy, no shared memory, so the portable maximum.
 */
export const ELEMENTWISE_WORKGROUP = 256;

/** Invocations per argmax row: one workgroup scans a whole vocabulary row. */
export const ARGMAX_WORKGROUP = 256;

/**
 * Output tile of the prefill GEMM on a software adapter, and for q8_1 inputs on a GPU: 32 x 32
 * outputs, 4 x 4 per invocation, 8 KiB of staged X and W per 32-value step, half the 16 KiB
 * every adapter offers. 4 x 4 halves the staged reads per multiply-add of 2 x 2 and quarters the
 * invocations at each barrier: 2.2x on SwiftShader (0.39 -> 0.85 GFLOP/s at 64 x 1024 x 1024).
 * A software adapter takes gemm.wgsl's main_8x8 instead (same tile, 4 x 4 invocations of 8 x 8
 * outputs: ~1.15 GFLOP/s there). Larger tiles come with a benchmark on a real GPU.
 */
export const GEMM_TILE = 32;

/**
 * The GPU tile of the prefill GEMM: 64 x 64 outputs, as 'wide' (main: 16 x 16 invocations of
 * 4 x 4) or 'wide8' (main_8x8: 8 x 8 of 8 x 8, twice the multiply-adds per staged load). Each
 * value staged from memory serves twice the outputs of the 32 x 32 tile, which measured
 * 3.1-3.3 TFLOP/s on an H200 (8% of its f32 peak, issue 20, before the staged values were laid
 * out k-major); neither 64-wide figure is measured yet. bench:kernels times both beside 'gpu'.
 */
export const GEMM_WIDE_TILE = 64;

/**
 * The prefill GEMM's entry point for an adapter: 'cpu' on a software adapter (see GEMM_TILE),
 * else 'wide', or 'gpu' for q8_1 inputs (their per-unit sums do not fit beside the wide tile).
 * 'wide' until a GPU run shows whether 'wide8' beats it.
 */
export function gemmShape(facts: { software: boolean }, input: string): 'wide' | 'gpu' | 'cpu' {
  if (facts.software) return 'cpu';
  return input === 'q8_1' ? 'gpu' : 'wide';
}

/**
 * Keys per step of the attention split pass, and its invocations: one key's score per
 * invocation, then one or two output dims per invocation (head dims up to 256). 128 keeps the
 * online-softmax step to a few barriers per 128 keys and fits every adapter.
 */
export const ATTENTION_WORKGROUP = 128;

/**
 * The attention workgroup for a head of `headDim`: ATTENTION_WORKGROUP on a GPU; on a CPU
 * device (SwiftShader), where each of the split pass's half-dozen barriers costs a switch per
 * 4-wide subgroup, the fewest invocations that still cover the head (two dims each): 32 for
 * 64-dim heads took attention from 1.5 s to 0.4 s of a 64-token prefill (6 layers, 8 heads).
 */
export function attentionWorkgroup(facts: { software: boolean }, headDim: number): number {
  if (!facts.software) return ATTENTION_WORKGROUP;
  let size = 32;
  while (2 * size < headDim && size < ATTENTION_WORKGROUP) size *= 2;
  return size;
}

/**
 * Keys one attention workgroup covers before the reduce pass merges, on a software adapter:
 * SwiftShader runs a few workgroups at a time, so more of them only add reduce work; 512 gives
 * a 64-token prefill's attention one split up to 512 keys.
 */
export const ATTENTION_KEYS_PER_SPLIT = 512;

/**
 * Workgroups the attention split pass aims for on a GPU (splits x heads x queries): a decode
 * step of one sequence over 4,096 keys with 32 heads gets 32 splits of 128 keys (1,024
 * workgroups of 4 warps, ~8 per SM of a 132-SM GPU) instead of 8 splits of 512 (256
 * workgroups, too few loads in flight to cover memory latency). Its speed is unmeasured.
 */
export const ATTENTION_SPLIT_WORKGROUPS = 1024;

/**
 * Keys per split of the attention split pass for `queries` queries of `heads` heads over up to
 * `maxKeys` keys: a multiple of `workgroup` (the keys of one online-softmax step). Software
 * adapters take ATTENTION_KEYS_PER_SPLIT; a GPU the fewest keys that still give about
 * ATTENTION_SPLIT_WORKGROUPS workgroups, so splits never exceed that count's share per head.
 */
export function attentionKeysPerSplit(
  facts: { software: boolean },
  shape: { maxKeys: number; heads: number; queries: number; workgroup: number },
): number {
  const { maxKeys, heads, queries, workgroup } = shape;
  if (facts.software) return ATTENTION_KEYS_PER_SPLIT;
  const splits = attentionSplitsWanted(heads, queries);
  return workgroup * Math.max(1, Math.ceil(maxKeys / splits / workgroup));
}

/**
 * The most splits attentionKeysPerSplit gives any dispatch of that shape over up to `maxKeys`
 * keys (what the partials' scratch is sized by). Not the splits at `maxKeys` itself: on a GPU
 * 4,096 keys take 32 splits of 128, 4,097 keys 17 of 256.
 */
export function attentionMostSplits(
  facts: { software: boolean },
  shape: { maxKeys: number; heads: number; queries: number; workgroup: number },
): number {
  const { maxKeys, heads, queries, workgroup } = shape;
  if (facts.software) return Math.max(1, Math.ceil(maxKeys / ATTENTION_KEYS_PER_SPLIT));
  return Math.max(
    1,
    Math.min(attentionSplitsWanted(heads, queries), Math.ceil(maxKeys / workgroup)),
  );
}

function attentionSplitsWanted(heads: number, queries: number): number {
  return Math.max(1, Math.ceil(ATTENTION_SPLIT_WORKGROUPS / (heads * queries)));
}

/**
 * Invocations per sampled sequence: one workgroup scans the vocabulary 32 times per threshold;
 * 256 keeps each pass at ~600 logits per invocation for a 152k vocabulary.
 */
export const SAMPLE_WORKGROUP = 256;

/**
 * Invocations per workgroup of the penalties kernel: one per distinct recent token (64 by
 * llama.cpp's default window), so one workgroup covers the usual case.
 */
export const PENALTIES_WORKGROUP = 64;

/**
 * Invocations per workgroup of the dot-input rounding: one per 8-bit block (32 or 256 values,
 * scanned twice) or per value (f16, bf16); a small, memory-bound pass, so a modest size.
 */
export const DOT_INPUT_WORKGROUP = 64;
