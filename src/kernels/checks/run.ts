// Running the cases: their names, which need f16, a representative subset for slow adapters,
// and one case or all of them on a GPU context.
import type { GpuContext } from '../../gpu/context.js';
import type { KernelOptions } from '../variant.js';
import { type KernelCheckResult } from './harness.js';
import { checkMatvec, checkMatvecQkv, checkGemm, checkDotInput } from './matvec.js';
import { checkAttention, checkKvWrite, checkKvShift, checkRope } from './attention.js';
import {
  checkRmsNorm,
  checkSoftmax,
  checkElementwise,
  checkUnary,
  checkEmbedding,
} from './elementwise.js';
import { checkArgmax, checkSample, checkPenalties, checkTokenMask } from './sampling.js';
import { type KernelCase, kernelCases } from './cases.js';

/**
 * For a second run on the same adapter, where the shapes are already covered: 'variant' keeps
 * the first case of each kernel × format × variant (fusion, input rounding, entry point,
 * rounding kind), every weight decode and every fused or rounding path, a third of the cases;
 * 'format' the first of each kernel × weight format, every weight decode in each kernel that
 * reads weights; 'kernel' the first case of each kernel.
 */
export function representativeCases(
  per: 'variant' | 'format' | 'kernel',
  cases: readonly KernelCase[] = kernelCases(),
): KernelCase[] {
  const seen = new Set<string>();
  return cases.filter((c) => {
    const v = c as Partial<Record<'format' | 'fusion' | 'input' | 'entry' | 'kind', string>>;
    const key =
      per === 'kernel'
        ? c.kernel
        : per === 'format'
          ? [c.kernel, v.format].join('|')
          : [c.kernel, v.format, v.fusion, v.input, v.entry, v.kind].join('|');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The kernels whose shaders take the subgroup or the workgroup-memory reduction path by the
 * device's features (their variant names say '_sg' or '_wg_'): the rest compile the same code
 * on either, so a run on a device without subgroups needs only these.
 */
export const REDUCTION_KERNELS: readonly KernelCase['kernel'][] = [
  'matvec',
  'matvec_qkv',
  'rms_norm',
  'softmax',
  'attention',
  'sample',
];

/**
 * Whether the case runs on this adapter: cases marked hardwareOnly (every format on the GEMM
 * entry GPUs take by default) are skipped on software adapters, and integer products where
 * WGSL lacks packed_4x8_integer_dot_product.
 */
export function runsOn(
  c: KernelCase,
  facts: { software: boolean; features: { packedIntegerDot: boolean } },
): boolean {
  if (c.kernel === 'gemm') {
    return (
      !(c.hardwareOnly && facts.software) && (!c.integerDot || facts.features.packedIntegerDot)
    );
  }
  if (c.kernel === 'matvec' || c.kernel === 'matvec_qkv') {
    return !c.integerDot || facts.features.packedIntegerDot;
  }
  return true;
}

/** Whether the case compiles f16 code (f16 activations, or an f16 KV cache). */
export function needsF16(c: KernelCase, options: KernelOptions = {}): boolean {
  if (options.activations === 'f16') return true;
  if (c.kernel === 'gemm' && c.stageF16) return true;
  const config =
    c.kernel === 'attention' ? c.scenario.config : 'config' in c ? c.config : undefined;
  return config?.kv === 'f16';
}

export function caseName(c: KernelCase): string {
  if (c.kernel === 'sample') {
    const s = c.settings;
    return `sample ${c.n} temperature ${s.temperature} top-k ${s.topK ?? 0} top-p ${s.topP ?? 1} min-p ${s.minP ?? 0}`;
  }
  if (c.kernel === 'attention') {
    const { config: a, sequences, mode, keysPerSplit } = c.scenario;
    const kind = mode === 'decode' ? 'decode' : `prefill from ${mode.prefillFrom}`;
    const extra =
      (a.window ? ` window ${a.window} sinks ${a.sinks ?? 0}` : '') +
      (a.softcap ? ` softcap ${a.softcap}` : '');
    const kv = a.kv ? ` ${a.kv} kv` : '';
    return `attention ${kind} ${a.heads}/${a.kvHeads}x${a.headDim} bt${a.blockTokens} kv[${sequences}]${extra}${kv} split ${keysPerSplit ?? 'default'}`;
  }
  if (c.kernel === 'matvec_qkv') {
    const q = c.qkv;
    return `matvec ${c.format} qkv${c.bias ? '_bias' : ''}${c.input ? ` in ${c.input}` : ''}${c.integerDot ? ' idot' : ''}${c.stageX ? ' staged' : ''}${c.subgroupsPerRow ? ` x${c.subgroupsPerRow}` : ''}${c.wideLoads ? ' w16' : ''} m${c.batch} ${q.heads}+2x${q.kvHeads}x${q.headDim}/${q.ropeDims}${q.neox ? ' neox' : ''} cols ${c.cols}`;
  }
  if (c.kernel === 'kv_shift') {
    const k = c.config;
    return `kv_shift ${k.kvHeads}x${k.headDim}/${k.ropeDims}${k.neox ? ' neox' : ''} bt${k.blockTokens} ${k.kv ?? 'act'}`;
  }
  const shape = c.shape.join('x');
  switch (c.kernel) {
    case 'dot_input':
      return `dot_input ${c.kind} ${shape}`;
    case 'penalties': {
      const p = c.settings;
      return `penalties ${shape} repeat ${p.repeat} freq ${p.frequency} presence ${p.presence}`;
    }
    case 'kv_write':
      return `kv_write ${c.shape[1]} at ${c.shape[0]} ${c.config.kvHeads}x${c.config.headDim} bt${c.config.blockTokens}${c.config.kv ? ` ${c.config.kv}` : ''}`;
    case 'matvec':
      return `matvec ${c.format}${c.fusion ? ` ${c.fusion}` : ''}${c.activation ? ` ${c.activation}` : ''}${c.input ? ` in ${c.input}` : ''}${c.integerDot ? ' idot' : ''}${c.stageX ? ` staged${c.stagedUnits ? ` ${c.stagedUnits}` : ''}` : ''}${c.subgroupsPerRow ? ` x${c.subgroupsPerRow}` : ''}${c.wideLoads ? ' w16' : ''} m${c.batch} ${shape}`;

    case 'embedding':
      return `${c.kernel} ${c.format} ${shape}`;
    case 'gemm':
      return `gemm ${c.format}${c.input ? ` in ${c.input}` : ''}${c.integerDot ? ' idot' : ''}${c.stageF16 ? ' f16 tiles' : ''} ${shape} ${c.entry}`;
    case 'rope': {
      const r = c.rope;
      const extra = (r.yarn ? ' yarn' : '') + (c.freqFactors ? ' freq-factors' : '');
      return `rope ${c.shape[0]}x${r.heads}x${r.headDim}/${r.ropeDims}${r.neox ? ' neox' : ''} scale ${r.freqScale}${extra}`;
    }
    default:
      return `${c.kernel} ${shape}`;
  }
}

export function runKernelCase(
  gpu: GpuContext,
  c: KernelCase,
  options: KernelOptions = {},
): Promise<KernelCheckResult> {
  switch (c.kernel) {
    case 'matvec':
      return checkMatvec(gpu, c.shape[0], c.shape[1], c.seed, {
        ...options,
        format: c.format,
        batch: c.batch,
        fusion: c.fusion,
        input: c.input,
        activation: c.activation,
        integerDot: c.integerDot,
        subgroupsPerRow: c.subgroupsPerRow,
        stageX: c.stageX,
        stagedUnits: c.stagedUnits,
        wideLoads: c.wideLoads,
        cols: c.shape[1],
      });
    case 'matvec_qkv':
      return checkMatvecQkv(gpu, c.qkv, c.cols, c.seed, {
        ...options,
        format: c.format,
        batch: c.batch,
        fusion: c.bias ? 'qkv_bias' : 'qkv',
        input: c.input,
        integerDot: c.integerDot,
        subgroupsPerRow: c.subgroupsPerRow,
        stageX: c.stageX,
        wideLoads: c.wideLoads,
        cols: c.cols,
      });
    case 'rms_norm':
      return checkRmsNorm(gpu, c.shape[0], c.shape[1], c.seed, options);
    case 'argmax':
      return checkArgmax(gpu, c.shape[0], c.shape[1], c.seed, options);
    case 'softmax':
      return checkSoftmax(gpu, c.shape[0], c.shape[1], c.seed, options);
    case 'silu_mul':
    case 'gelu_mul':
    case 'add':
    case 'add_rows':
      return checkElementwise(gpu, c.kernel, c.shape[0], c.seed, options);
    case 'scale':
    case 'softcap':
      return checkUnary(gpu, c.kernel, c.shape[0], c.value, c.seed, options);
    case 'rope':
      return checkRope(gpu, c.shape[0], c.rope, c.seed, options, c.freqFactors);
    case 'embedding':
      return checkEmbedding(gpu, c.format, ...c.shape, c.seed, options);
    case 'gemm':
      return checkGemm(gpu, ...c.shape, c.seed, {
        ...options,
        format: c.format,
        shape: c.entry,
        input: c.input,
        integerDot: c.integerDot,
        stageF16: c.stageF16,
      });
    case 'attention':
      return checkAttention(gpu, c.scenario, c.seed, options);
    case 'sample':
      return checkSample(gpu, c.n, c.settings, c.seed, options);
    case 'dot_input':
      return checkDotInput(gpu, c.kind, c.shape[0], c.seed, options);
    case 'penalties':
      return checkPenalties(gpu, ...c.shape, c.settings, c.seed, options);
    case 'kv_write':
      return checkKvWrite(gpu, c.config, ...c.shape, c.seed, options);
    case 'kv_shift':
      return checkKvShift(gpu, c.config, c.seed, options);
    case 'token_mask':
      return checkTokenMask(gpu, ...c.shape, c.seed, options);
  }
}

export async function runKernelChecks(
  gpu: GpuContext,
  cases = kernelCases(),
  options: KernelOptions = {},
): Promise<KernelCheckResult[]> {
  const results: KernelCheckResult[] = [];
  for (const c of cases) {
    if (needsF16(c, options) && !gpu.facts.features.shaderF16) continue;
    if (!runsOn(c, gpu.facts)) continue;
    results.push(await runKernelCase(gpu, c, options));
  }
  return results;
}
