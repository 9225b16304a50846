// What every engine in the peer benchmark is measured by, and agentgpu's own measurement: the
// same code in Node (Dawn) and in a Chromium page (navigator.gpu), given a GpuContext.
import type { ComputeBatch, GpuCounters } from '../src/gpu/batch.js';
import type { GpuContext } from '../src/gpu/context.js';
import { Copy } from '../src/kernels/testing/ceilings.js';
import { Decoder } from '../src/model/decoder.js';
import { LanguageModel } from '../src/model/language-model.js';
import { bytesSource } from '../src/model/weights.js';
import type { KernelTime } from '../src/gpu/profiler.js';

export interface Measure {
  /** From the bytes in hand (or a fetch, in a page) to ready to run, ms. */
  loadMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  timeToFirstTokenMs: number;
  /**
   * The engine's own memory, bytes: agentgpu's GPU buffers; llama.cpp's model + context; in a
   * page, where neither peer says, the JS heap in use after the run (`performance.memory`).
   */
  memoryBytes: number;
  /** JS heap in use after the run (pages only), bytes. */
  jsHeapBytes?: number;
}

/** One row of bench:kernels (and of the roofline in npm run bench). */
export interface KernelRow {
  kernel: string;
  variant: string;
  shape: string;
  /** Per call: GPU time where timestamp queries timed it, else wall time. */
  ms: number;
  /** Wall time per call (submit to done, amortized over many calls a submission). */
  wallMs?: number;
  gbPerS: number;
  gflopPerS: number;
  /** Percentage of this kind of kernel's ceiling: copy bandwidth (memory-bound), peak FLOP/s (GEMM). */
  pctOfCeiling: number;
}

/** Context for a prompt of `prompt` tokens and `decode` more, in 16-token blocks. */
export function contextFor(prompt: number, decode: number): number {
  return 16 * Math.ceil((prompt + decode + 16) / 16);
}

/**
 * Greedy decoding of `decode` tokens after `prompt`, after a warm-up at the same shapes (the
 * pipelines compile on first use).
 */
export async function measureAgentgpu(
  gpu: GpuContext,
  bytes: Uint8Array | (() => Promise<Uint8Array>),
  prompt: number[],
  decode: number,
): Promise<Measure> {
  const started = performance.now();
  const data = typeof bytes === 'function' ? await bytes() : bytes;
  const model = await LanguageModel.load(gpu, bytesSource(data), {
    contextSize: contextFor(prompt.length, decode),
    maxBatch: 256,
  });
  const loadMs = performance.now() - started;
  try {
    await model.generate(prompt, { maxTokens: 2, temperature: 0, ignoreEos: true }).result;
    model.closeSession('default');
    const r = await model.generate(prompt, {
      maxTokens: decode,
      temperature: 0,
      ignoreEos: true,
      reusePrefix: false,
    }).result;
    return {
      loadMs,
      prefillTokensPerSecond: r.timings.prefillTokensPerSecond,
      decodeTokensPerSecond: r.timings.decodeTokensPerSecond,
      timeToFirstTokenMs: r.timings.timeToFirstTokenMs,
      memoryBytes: model.decoder.memory.total,
    };
  } finally {
    model.destroy();
  }
}

export interface BatchedRow {
  sequences: number;
  tokensPerSecond: number;
  msPerStep: number;
  /** tok/s over all sequences / tok/s of one. */
  speedup: number;
}

/**
 * Decode throughput when `counts` sequences step together through one decoder (8-token
 * prompts, then one token per sequence per step), over all sequences.
 */
export async function measureBatchedDecode(
  gpu: GpuContext,
  bytes: Uint8Array,
  counts: number[],
  steps: number,
  onRow: (row: BatchedRow) => void = () => {},
): Promise<BatchedRow[]> {
  const decoder = await Decoder.load(gpu, bytesSource(bytes), {
    contextSize: contextFor(8, steps),
    sequences: Math.max(...counts),
  });
  try {
    const rows: BatchedRow[] = [];
    let extra: number[] = [];
    for (const n of counts) {
      // The decoder's own sequence (id 0) and n - 1 more, all empty.
      decoder.reset();
      for (const id of extra) decoder.removeSequence(id);
      extra = Array.from({ length: n - 1 }, () => decoder.addSequence());
      const active = [0, ...extra];
      await decoder.forwardBatch(
        active.map((sequence, i) => ({ sequence, tokens: [1, 2, 3, 4, 5, 6, 7, i] })),
      );
      let next = await decoder.argmaxRows(n);
      const step = async () => {
        await decoder.forwardBatch(active.map((sequence, i) => ({ sequence, tokens: [next[i]] })));
        next = await decoder.argmaxRows(n);
      };
      await step(); // warm-up
      const started = performance.now();
      for (let s = 1; s < steps; s++) await step();
      const msPerStep = (performance.now() - started) / (steps - 1);
      const tokensPerSecond = (n * 1000) / msPerStep;
      const speedup = rows.length ? tokensPerSecond / rows[0].tokensPerSecond : 1;
      const row = { sequences: n, tokensPerSecond, msPerStep, speedup };
      rows.push(row);
      onRow(row);
    }
    return rows;
  } finally {
    decoder.destroy();
  }
}

export interface KernelProfile {
  /** GPU time per kernel over one prefill of the prompt. */
  prefill: KernelTime[];
  /** GPU time per kernel over `decode` - 1 decode steps. */
  decode: KernelTime[];
  /** Wall time of the same prefill and decode steps, ms (GPU time + what the host adds). */
  prefillWallMs: number;
  decodeWallMs: number;
}

/**
 * Where agentgpu's GPU time goes, kernel by kernel (timestamp queries), for a prefill and for
 * decode steps. `gpu` must have been acquired with `profile: true`; the timings themselves
 * run slower than unprofiled ones (a query resolve and readback per batch).
 */
export async function profileAgentgpu(
  gpu: GpuContext,
  bytes: Uint8Array,
  prompt: number[],
  decode: number,
): Promise<KernelProfile> {
  const profiler = gpu.profiler;
  if (!profiler) throw new Error('the GPU context has no profiler: acquire it with profile: true');
  const decoder = await Decoder.load(gpu, bytesSource(bytes), {
    contextSize: contextFor(prompt.length, decode),
  });
  try {
    const run = async () => {
      decoder.reset();
      await profiler.reset();
      let t0 = performance.now();
      await decoder.forward(prompt);
      let next = await decoder.argmax();
      const prefillWallMs = performance.now() - t0;
      const prefill = await profiler.report();
      await profiler.reset();
      t0 = performance.now();
      for (let i = 1; i < decode; i++) {
        await decoder.forward([next]);
        next = await decoder.argmax();
      }
      const decodeWallMs = performance.now() - t0;
      return { prefill, decode: await profiler.report(), prefillWallMs, decodeWallMs };
    };
    await run(); // warm-up: pipelines compile on first use
    return await run();
  } finally {
    decoder.destroy();
  }
}

/** What one call of a kernel's `encode` takes, ms: median wall time, and GPU time where timed. */
export interface KernelTiming {
  /** Wall time per call: submit to done over `perSubmit` calls, divided. */
  wallMs: number;
  /**
   * GPU time per call from timestamp queries (the context acquired with `profile: true` on an
   * adapter with 'timestamp-query'): what the kernel itself takes, without the submit and
   * launch overheads that floor wall times of small kernels at tens of microseconds.
   */
  gpuMs?: number;
  /** gpuMs where timed, else wallMs: what GB/s and GFLOP/s are computed from. */
  ms: number;
}

/**
 * Time per call of `encode`: each submission records `perSubmit` calls, so submit and
 * readiness overheads are spread thin; repeats until ~`budgetMs` of samples, keeps the medians.
 * With a profiler, every dispatch is timed on the GPU as well (each in a pass of its own).
 */
export async function timeKernel(
  budgetMs: number,
  gpu: GpuContext,
  label: string,
  encode: (batch: ComputeBatch) => void,
): Promise<KernelTiming> {
  const profiler = gpu.profiler;
  const run = async (perSubmit: number) => {
    await profiler?.reset();
    const batch = gpu.batch(label);
    for (let i = 0; i < perSubmit; i++) encode(batch);
    const start = performance.now();
    await batch.submit();
    await gpu.device.queue.onSubmittedWorkDone();
    const wallMs = (performance.now() - start) / perSubmit;
    const times = await profiler?.report();
    const gpuMs = times && times.reduce((sum, t) => sum + t.ms, 0) / perSubmit;
    return { wallMs, gpuMs };
  };
  const first = await run(1); // warm-up: pipeline and caches
  const perSubmit = Math.max(1, Math.min(64, Math.round(20 / Math.max(first.wallMs, 0.01))));
  const samples: { wallMs: number; gpuMs?: number }[] = [];
  for (let spent = 0; samples.length < 3 || (spent < budgetMs && samples.length < 50);) {
    const sample = await run(perSubmit);
    samples.push(sample);
    spent += sample.wallMs * perSubmit;
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];
  const wallMs = median(samples.map((s) => s.wallMs));
  const gpuMs = profiler ? median(samples.map((s) => s.gpuMs ?? 0)) : undefined;
  return { wallMs, gpuMs, ms: gpuMs ?? wallMs };
}

/** The copy kernel's bandwidth (read + write) over `bytes`: memory-bound kernels' ceiling. */
export async function copyCeiling(
  gpu: GpuContext,
  bytes: number,
  budgetMs = 1000,
): Promise<KernelRow> {
  const copy = await Copy.load(gpu);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const src = await gpu.createBuffer(bytes, usage, 'bench:copy:src');
  const dst = await gpu.createBuffer(bytes, usage, 'bench:copy:dst');
  const { ms, wallMs } = await timeKernel(budgetMs, gpu, 'copy', (b) =>
    copy.encode(b, src, dst, bytes),
  );
  src.destroy();
  dst.destroy();
  const gbPerS = (2 * bytes) / (ms * 1e6);
  return {
    kernel: 'copy',
    variant: 'copy_u32x4',
    shape: `${bytes >> 20} MiB`,
    ms,
    wallMs,
    gbPerS,
    gflopPerS: 0,
    pctOfCeiling: 100,
  };
}

export interface StepCosts {
  /** Median wall time of a decode step, ms. */
  msPerStep: number;
  /** What each decode step cost in WebGPU calls (averaged over the steps measured). */
  perStep: GpuCounters;
}

/**
 * Greedy decode steps of a loaded model, timed and counted one by one (the prefill's token and
 * the first decode step, which may still create what later ones reuse, left out).
 */
export async function measureSteps(
  gpu: GpuContext,
  model: LanguageModel,
  prompt: string | number[],
  steps: number,
): Promise<StepCosts> {
  const times: number[] = [];
  const costs: GpuCounters[] = [];
  let last = performance.now();
  let before = { ...gpu.counters };
  const generation = model.generate(prompt, {
    maxTokens: steps + 2,
    temperature: 0,
    ignoreEos: true,
    reusePrefix: false,
  });
  let tokens = 0;
  for await (const piece of generation) {
    void piece;
    const now = performance.now();
    const after = { ...gpu.counters };
    if (tokens++ >= 2) {
      times.push(now - last);
      costs.push(difference(after, before));
    }
    last = now;
    before = after;
  }
  await generation.result;
  times.sort((a, b) => a - b);
  return { msPerStep: times[times.length >> 1], perStep: average(costs) };
}

function difference(a: GpuCounters, b: GpuCounters): GpuCounters {
  const out = { ...a };
  for (const k of Object.keys(a) as (keyof GpuCounters)[]) out[k] = a[k] - b[k];
  return out;
}

function average(all: GpuCounters[]): GpuCounters {
  const out = { ...all[0] };
  for (const k of Object.keys(out) as (keyof GpuCounters)[]) {
    out[k] = Math.round((all.reduce((n, c) => n + c[k], 0) / all.length) * 10) / 10;
  }
  return out;
}

/** One line: a step's WebGPU calls. */
export function describeStep(c: GpuCounters, layers: number): string {
  return (
    `${c.dispatches} dispatches (${(c.dispatches / layers).toFixed(1)} a layer), ` +
    `${c.computePasses} passes, ${c.submits} submits, ${c.bindGroupsCreated} bind groups and ` +
    `${c.buffersCreated} buffers created, ${c.writes} writes (${c.bytesWritten} B), ` +
    `${c.bytesRead} B read back`
  );
}
