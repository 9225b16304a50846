// npm run bench:kernels [-- --quick] [--out FILE] [--swiftshader]
//
// Per kernel, variant and shape: time per dispatch, effective GB/s and GFLOP/s, and the share of
// a ceiling measured on the same adapter in the same run (the copy kernel's bandwidth for the
// memory-bound kernels). Times are GPU times from timestamp queries where the adapter has them
// (wall time beside them: on a GPU it floors small kernels at the launch overhead), else wall
// times. Prints a table and writes the rows as JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { GpuContext } from '../src/gpu/context.js';
import { PeakFlops } from '../src/kernels/testing/ceilings.js';
import { Gemm, type GemmOptions, type GemmShape } from '../src/kernels/gemm.js';
import { Matvec, type MatvecOptions } from '../src/kernels/matvec.js';
import { Attention } from '../src/kernels/attention.js';
import { Sampler } from '../src/kernels/sample.js';
import { RmsNorm } from '../src/kernels/rms-norm.js';
import {
  dotInput,
  integerDotFormat,
  quantFormats,
  randomBlocks,
  rowBytes,
  type QuantName,
} from '../src/quant/index.js';
import { acquireNodeGpu } from '../src/node/gpu.js';
import { Rng } from '../src/util/rng.js';
import { MATVEC_WORKGROUP_CHOICES } from '../src/kernels/tuning.js';
import { copyCeiling as measureCopy, timeKernel, type KernelRow } from './measure.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    out: { type: 'string', default: 'bench/results/kernels.json' },
    swiftshader: { type: 'boolean' },
  },
});
/** Sampling time per kernel timing, ms. */
const budgetMs = flags.quick ? 200 : 1000;
const copyCeiling = (gpu: GpuContext, bytes: number) => measureCopy(gpu, bytes, budgetMs);

async function flopCeiling(gpu: GpuContext): Promise<KernelRow> {
  const kernel = await PeakFlops.load(gpu);
  const workgroups = gpu.facts.software ? 64 : 4096;
  const iterations = gpu.facts.software ? 256 : 4096;
  const out = await gpu.createBuffer(workgroups * 256 * 4, GPUBufferUsage.STORAGE, 'bench:flops');
  let flops = 0;
  const { ms, wallMs } = await timeKernel(budgetMs, gpu, 'flops', (b) => {
    flops = kernel.encode(b, out, workgroups, iterations);
  });
  out.destroy();
  const gflopPerS = flops / (ms * 1e6);
  return {
    kernel: 'peak fma',
    variant: 'flops_f32',
    shape: `${workgroups}x256x${iterations}`,
    ms,
    wallMs,
    gbPerS: 0,
    gflopPerS,
    pctOfCeiling: 100,
  };
}

async function benchGemm(
  gpu: GpuContext,
  format: QuantName,
  m: number,
  n: number,
  k: number,
  ceiling: number,
  shape?: GemmShape,
  options: Pick<GemmOptions, 'input' | 'integerDot'> = {},
): Promise<KernelRow> {
  const kernel = await Gemm.load(gpu, { format, shape, ...options });
  const w = await gpu.upload(randomBlocks(quantFormats[format], n * k, 5), 'bench:w');
  const x = await gpu.upload(new Rng(6).floats(m * k), 'bench:x');
  const out = await gpu.createBuffer(m * n * 4, GPUBufferUsage.STORAGE, 'bench:out');
  const { ms, wallMs } = await timeKernel(budgetMs, gpu, 'gemm', (b) =>
    kernel.encode(b, { w, x, out, m, n, k }),
  );
  w.destroy();
  x.destroy();
  out.destroy();
  const gflopPerS = (2 * m * n * k) / (ms * 1e6);
  return {
    kernel:
      `gemm ${format}` +
      (options.input ? ` in ${options.input}` : '') +
      (kernel.key.name.endsWith('_idot') ? ' idot' : ''),
    variant: kernel.key.name,
    shape: `${m}x${n}x${k}`,
    ms,
    wallMs,
    gbPerS: (n * rowBytes(quantFormats[format], k) + 4 * m * (k + n)) / (ms * 1e6),
    gflopPerS,
    pctOfCeiling: (100 * gflopPerS) / ceiling,
  };
}

async function benchMatvec(
  gpu: GpuContext,
  format: QuantName,
  batch: number,
  rows: number,
  cols: number,
  ceiling: number,
  options: MatvecOptions = {},
): Promise<KernelRow> {
  const { fusion = 'none', input = 'f32' } = options;
  const kernel = await Matvec.load(gpu, { ...options, format, batch, cols });
  const matrices = fusion === 'gate_up' ? 2 : 1;
  const weights = randomBlocks(quantFormats[format], matrices * rows * cols, 1);
  const w = await gpu.upload(weights, 'bench:w');
  const x = await gpu.upload(new Rng(2).floats(batch * cols), 'bench:x');
  const out = await gpu.createBuffer(batch * rows * 4, GPUBufferUsage.STORAGE, 'bench:out');
  const { ms, wallMs } = await timeKernel(budgetMs, gpu, 'matvec', (b) =>
    kernel.encode(b, { w, x, out, rows, cols }),
  );
  w.destroy();
  x.destroy();
  out.destroy();
  const bytes = matrices * rows * rowBytes(quantFormats[format], cols) + 4 * batch * (cols + rows);
  const gbPerS = bytes / (ms * 1e6);
  return {
    kernel:
      `matvec ${format}` +
      (fusion === 'none' ? '' : ` ${fusion}`) +
      (input === 'f32' ? '' : ` in ${input}`) +
      (kernel.variant.key.name.includes('_idot') ? ' idot' : '') +
      (kernel.stagedUnits ? ` staged ${kernel.stagedUnits}` : '') +
      (kernel.wideLoads ? ' w16' : '') +
      (options.subgroupsPerRow ? ` x${options.subgroupsPerRow}` : ''),
    variant: kernel.variant.key.name,
    shape: `${batch}x${rows}x${cols}`,
    ms,
    wallMs,
    gbPerS,
    gflopPerS: (2 * matrices * batch * rows * cols) / (ms * 1e6),
    pctOfCeiling: (100 * gbPerS) / ceiling,
  };
}

/**
 * Decode attention for `sequences` sequences of `context` cached tokens each (Llama-3-8B's
 * shape: 32 heads over 8 kv heads of 128): bytes are the K and V read.
 */
async function benchAttention(
  gpu: GpuContext,
  sequences: number,
  context: number,
  ceiling: number,
): Promise<KernelRow> {
  const config = { heads: 32, kvHeads: 8, headDim: 128, blockTokens: 16 };
  const kernel = await Attention.load(gpu, config);
  const blocksPer = Math.ceil(context / config.blockTokens);
  const cacheFloats = sequences * blocksPer * config.kvHeads * config.blockTokens * config.headDim;
  const usage = GPUBufferUsage.STORAGE;
  const k = await gpu.createBuffer(cacheFloats * 4, usage, 'bench:k');
  const v = await gpu.createBuffer(cacheFloats * 4, usage, 'bench:v');
  const tableIds = Uint32Array.from({ length: sequences * blocksPer }, (_, i) => i);
  const table = await gpu.upload(tableIds, 'bench:table');
  const queries = Array.from({ length: sequences }, (_, s) => ({
    tableOffset: s * blocksPer,
    qIndex: context - 1,
  }));
  const info = await gpu.upload(Attention.queryInfo(queries), 'bench:queries');
  const q = await gpu.upload(
    new Rng(7).floats(sequences * config.heads * config.headDim),
    'bench:q',
  );
  const out = await gpu.createBuffer(
    sequences * config.heads * config.headDim * 4,
    usage,
    'bench:out',
  );
  const sizes = kernel.scratchBytes(sequences, context);
  const acc = await gpu.createBuffer(sizes.acc, usage, 'bench:acc');
  const ml = await gpu.createBuffer(sizes.ml, usage, 'bench:ml');
  const args = {
    q,
    kCache: k,
    vCache: v,
    table,
    queries: info,
    out,
    scratch: { acc, ml },
    queryCount: sequences,
    maxKeys: context,
  };
  const { ms, wallMs } = await timeKernel(budgetMs, gpu, 'attention', (b) =>
    kernel.encode(b, args),
  );
  for (const buffer of [k, v, table, info, q, out, acc, ml]) buffer.destroy();
  const gbPerS = (2 * cacheFloats * 4) / (ms * 1e6);
  return {
    kernel: 'attention decode',
    variant: kernel.splitKey.name,
    shape: `${sequences}x${context} 32/8x128 split ${kernel.split(context, sequences).keysPerSplit}`,
    ms,
    wallMs,
    gbPerS,
    gflopPerS: (4 * sequences * config.heads * context * config.headDim) / (ms * 1e6),
    pctOfCeiling: (100 * gbPerS) / ceiling,
  };
}

/** Top-k/top-p sampling over an n-token vocabulary for `rows` sequences. */
async function benchSample(
  gpu: GpuContext,
  rows: number,
  n: number,
  ceiling: number,
): Promise<KernelRow> {
  const kernel = await Sampler.load(gpu);
  const logits = await gpu.upload(new Rng(8).floats(rows * n, 8), 'bench:logits');
  const settings = { temperature: 0.7, topK: 40, topP: 0.9 };
  const draws = Array.from({ length: rows }, () => ({ settings, u: 0.5 }));
  const st = await gpu.upload(Sampler.settings(draws), 'bench:settings');
  const ids = await gpu.createBuffer(rows * 4, GPUBufferUsage.STORAGE, 'bench:ids');
  const { ms, wallMs } = await timeKernel(budgetMs, gpu, 'sample', (b) =>
    kernel.encode(b, { logits, settings: st, ids, rows, n }),
  );
  for (const buffer of [logits, st, ids]) buffer.destroy();
  // 1 max pass, 32 top-k passes, 1 + 31 top-p passes, 2 for the draw: ~67 reads of the logits.
  const gbPerS = (67 * rows * n * 4) / (ms * 1e6);
  return {
    kernel: 'sample top-k/top-p',
    variant: kernel.key.name,
    shape: `${rows}x${n}`,
    ms,
    wallMs,
    gbPerS,
    gflopPerS: 0,
    pctOfCeiling: (100 * gbPerS) / ceiling,
  };
}

async function benchRmsNorm(
  gpu: GpuContext,
  rows: number,
  n: number,
  ceiling: number,
): Promise<KernelRow> {
  const kernel = await RmsNorm.load(gpu);
  const x = await gpu.upload(new Rng(3).floats(rows * n), 'bench:x');
  const weight = await gpu.upload(new Rng(4).floats(n), 'bench:weight');
  const out = await gpu.createBuffer(rows * n * 4, GPUBufferUsage.STORAGE, 'bench:out');
  const { ms, wallMs } = await timeKernel(budgetMs, gpu, 'rms_norm', (b) =>
    kernel.encode(b, { x, weight, out, rows, n, eps: 1e-5 }),
  );
  x.destroy();
  weight.destroy();
  out.destroy();
  const bytes = 4 * (2 * rows * n + n);
  const gbPerS = bytes / (ms * 1e6);
  return {
    kernel: 'rms_norm',
    variant: kernel.variant.key.name,
    shape: `${rows}x${n}`,
    ms,
    wallMs,
    gbPerS,
    gflopPerS: (4 * rows * n) / (ms * 1e6),
    pctOfCeiling: (100 * gbPerS) / ceiling,
  };
}

function table(rows: KernelRow[], timed: boolean): string {
  const head = ['kernel', 'variant', 'shape', timed ? 'GPU ms' : 'ms', 'wall ms', 'GB/s'];
  head.push('GFLOP/s', '% ceiling');
  const body = rows.map((r) => [
    r.kernel,
    r.variant,
    r.shape,
    r.ms.toFixed(4),
    (r.wallMs ?? r.ms).toFixed(4),
    r.gbPerS.toFixed(2),
    r.gflopPerS.toFixed(2),
    r.pctOfCeiling.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const results: KernelRow[] = [];
  let adapter = '';
  let gemmMeasured = false;
  let timed = false;
  for (const subgroups of [true, false]) {
    // Timestamp queries where the adapter has them: GPU time per kernel, beside the wall time.
    const gpu = await acquireNodeGpu({
      features: { subgroups },
      forceSwiftShader: flags.swiftshader,
      profile: true,
    });
    timed = gpu.profiler !== undefined;
    if (subgroups && !gpu.facts.features.subgroups) {
      gpu.destroy();
      continue; // no subgroups here: the workgroup pass below covers the adapter
    }
    adapter = `${gpu.facts.vendor} ${gpu.facts.architecture} (${gpu.facts.description})`;
    const software = gpu.facts.software;
    const big = software || flags.quick ? 4096 : 8192;
    const copy = await copyCeiling(gpu, (software ? 64 : 512) << 20);
    results.push(copy);
    const formats: QuantName[] = flags.quick
      ? ['F32', 'Q8_0', 'Q4_K', 'Q6_K']
      : (Object.keys(quantFormats) as QuantName[]);
    for (const format of formats)
      results.push(await benchMatvec(gpu, format, 1, 4096, 4096, copy.gbPerS));
    if (!software && !flags.quick) {
      for (const format of ['Q4_K', 'Q8_0'] as const)
        results.push(await benchMatvec(gpu, format, 1, big, big, copy.gbPerS));
    }
    if (!software) {
      // Workgroup sizes side by side (the same rows per subgroup, in more or fewer workgroups).
      for (const format of ['Q4_0', 'Q8_0', 'Q4_K', 'Q6_K'] as const) {
        for (const workgroup of MATVEC_WORKGROUP_CHOICES) {
          const input = dotInput[format];
          results.push(
            await benchMatvec(gpu, format, 1, 4096, 4096, copy.gbPerS, { input, workgroup }),
          );
        }
      }
    }
    if (!software && gpu.facts.features.subgroups) {
      // Subgroups per lane group side by side (the default is by row length: tuning.ts).
      for (const format of ['Q4_0', 'Q4_K'] as const) {
        for (const [rows, cols] of [
          [4096, 4096],
          [4096, 14336],
        ]) {
          for (const subgroupsPerRow of [1, 2, 4]) {
            const input = dotInput[format];
            results.push(
              await benchMatvec(gpu, format, 1, rows, cols, copy.gbPerS, {
                input,
                subgroupsPerRow,
              }),
            );
          }
        }
      }
    }
    if (gpu.facts.features.packedIntegerDot) {
      // Float and 8-bit integer products side by side (x rounded as it is loaded, both), the
      // integer ones also with x rounded once per workgroup (in as many units at a time as
      // fit: the batches of 8 and 16 in several rounds); one vector and batches.
      for (const format of ['Q4_0', 'Q8_0', 'Q4_K', 'Q6_K'] as const) {
        const input = dotInput[format];
        for (const batch of software ? [1] : [1, 4, 8, 16]) {
          const ways: MatvecOptions[] = [
            { integerDot: false },
            { integerDot: true, stageX: false },
            { integerDot: true, stageX: true },
          ];
          for (const way of ways) {
            results.push(
              await benchMatvec(gpu, format, batch, 4096, 4096, copy.gbPerS, { input, ...way }),
            );
          }
        }
      }
    }
    // Weights read 4 and 16 bytes a load side by side (x rounded as decode rounds it; the
    // K-quants with float and integer products where the adapter has them).
    for (const format of ['Q4_K', 'Q5_K', 'F16', 'F32'] as const) {
      const input = dotInput[format];
      const products = integerDotFormat(format, input) && gpu.facts.features.packedIntegerDot;
      for (const integerDot of products ? [false, true] : [false]) {
        for (const wideLoads of [false, true]) {
          const way = { input, integerDot, wideLoads };
          results.push(await benchMatvec(gpu, format, 1, 4096, 4096, copy.gbPerS, way));
        }
      }
    }
    for (const batch of [4, 8])
      results.push(await benchMatvec(gpu, 'Q4_K', batch, 4096, 4096, copy.gbPerS));
    // The SwiGLU gate of a 4096 -> 11008 feed-forward: gate and up rows in one pass.
    results.push(
      await benchMatvec(gpu, 'Q4_K', 1, 11008, 4096, copy.gbPerS, { fusion: 'gate_up' }),
    );
    if (!software) {
      // Decode's matvecs at the shapes of real models (rows x cols), x rounded as llama.cpp
      // rounds it, as decode does: Qwen2.5-0.5B's 896 (Q5_0 and Q8_0 where rows are not whole
      // K-quant blocks), Llama 3.2 1B's 2048 / 8192, Llama 3 8B's 4096 / 14336, and the output
      // projections over 151,936 and 128,256 tokens.
      const shapes: [number, number][] = [
        [896, 896],
        [2048, 2048],
        [8192, 2048],
        [2048, 8192],
        [4096, 4096],
        [14336, 4096],
        [4096, 14336],
        [151_936, 896],
        [128_256, 2048],
      ];
      for (const [rows, cols] of shapes) {
        const formats =
          cols % 256 === 0 ? (['Q4_K', 'Q6_K', 'Q8_0'] as const) : (['Q5_0', 'Q8_0'] as const);
        for (const format of formats) {
          const input = dotInput[format];
          results.push(await benchMatvec(gpu, format, 1, rows, cols, copy.gbPerS, { input }));
        }
      }
    }
    if (!gemmMeasured) {
      // The GEMM has no subgroup variant: once per adapter.
      gemmMeasured = true;
      const peak = await flopCeiling(gpu);
      results.push(peak);
      const m = software ? 64 : 512;
      // On a GPU the GPU tiles side by side: 64 x 64 as 4 x 4 (wide, the default) and 8 x 8 an
      // invocation (wide8), and 32 x 32.
      const shapes: (GemmShape | undefined)[] = software ? [undefined] : ['wide', 'wide8', 'gpu'];
      for (const format of ['F32', 'Q4_K', 'Q8_0'] as const) {
        for (const shape of shapes) {
          const size = software ? 1024 : 4096;
          results.push(await benchGemm(gpu, format, m, size, size, peak.gflopPerS, shape));
        }
      }
      if (gpu.facts.features.packedIntegerDot && !software) {
        // x rounded as staged, as a GPU's prefill takes it: float and integer products.
        for (const format of ['Q4_0', 'Q8_0', 'Q4_K', 'Q6_K'] as const) {
          const input = dotInput[format] as 'q8_0' | 'q8_k';
          for (const integerDot of [false, true]) {
            results.push(
              await benchGemm(gpu, format, m, 4096, 4096, peak.gflopPerS, 'wide', {
                input,
                integerDot,
              }),
            );
          }
        }
      }
    }
    const context = software ? 1024 : 4096;
    for (const sequences of [1, 4]) {
      results.push(await benchAttention(gpu, sequences, context, copy.gbPerS));
    }
    results.push(await benchSample(gpu, 1, 151_936, copy.gbPerS));
    results.push(await benchRmsNorm(gpu, 1, 4096, copy.gbPerS));
    results.push(await benchRmsNorm(gpu, 64, 4096, copy.gbPerS));
    gpu.destroy();
  }
  console.log(`agentgpu kernel benchmark on ${adapter}\n`);
  console.log(table(results, timed));
  mkdirSync(dirname(flags.out!), { recursive: true });
  writeFileSync(
    flags.out!,
    JSON.stringify({ adapter, date: new Date().toISOString(), timed, results }, null, 2),
  );
  console.log(`\nwrote ${flags.out}`);
}

await main();
