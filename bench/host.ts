// npm run bench:host [-- --sizes L,XL] [--steps 32] [--weights Q4_0] [--out FILE]
//
// What a decode step costs the host, measured where nothing runs on a device: Dawn's null
// backend compiles and validates every shader and call and executes none, so the time per step
// is agentgpu's own (recording, bind groups, writes, submits, readback) plus Dawn's validation,
// on any machine. Per step it also counts the WebGPU work: dispatches, compute passes, submits,
// bind groups and buffers created, writes and bytes written and read back.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { GpuCounters } from '../src/gpu/batch.js';
import { LanguageModel } from '../src/model/language-model.js';
import type { QuantName } from '../src/model/quant/index.js';
import { tinyModel } from '../src/model/testing/tiny-model.js';
import { bytesSource } from '../src/model/weights.js';
import { acquireNodeGpu } from '../src/node/gpu.js';

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: 'L,XL' },
    steps: { type: 'string', default: '32' },
    weights: { type: 'string', default: 'Q4_0' },
    out: { type: 'string', default: 'bench/results/host.json' },
  },
});

/**
 * The generated models issue 18 quotes GPU figures for: L, and XL (a Llama-3.2-1B trunk). The
 * null backend holds 512 MiB of buffers, so XL runs here with 12 of its 16 layers (Q4_0 is 34 MiB
 * a layer); the per-layer figures are what carries over.
 */
const SIZES: Record<string, Shape> = {
  S: { layers: 6, embedding: 512, ff: 1536, heads: 8, kvHeads: 2 },
  L: { layers: 20, embedding: 1024, ff: 3072, heads: 16, kvHeads: 4 },
  XL: { layers: 12, embedding: 2048, ff: 8192, heads: 32, kvHeads: 8 },
};

interface Shape {
  layers: number;
  embedding: number;
  ff: number;
  heads: number;
  kvHeads: number;
}

interface HostRow {
  model: string;
  layers: number;
  steps: number;
  /** Median host time of a decode step, ms. */
  msPerStep: number;
  /** Per decode step, after the first: the counters' differences, averaged. */
  perStep: GpuCounters;
  dispatchesPerLayer: number;
}

const gpu = await acquireNodeGpu({ backend: 'null' });
const steps = Number(flags.steps);
const rows: HostRow[] = [];
console.log(`decode steps on Dawn's null backend (host time only), ${flags.weights}\n`);
for (const size of flags.sizes.split(',')) {
  const shape = SIZES[size];
  if (!shape) throw new Error(`unknown size "${size}": ${Object.keys(SIZES).join(', ')}`);
  const { bytes } = tinyModel({
    architecture: 'llama',
    weights: flags.weights as QuantName,
    layers: shape.layers,
    embedding: shape.embedding,
    feedForward: shape.ff,
    heads: shape.heads,
    kvHeads: shape.kvHeads,
    contextLength: 4096,
  });
  const model = await LanguageModel.load(gpu, bytesSource(bytes), {
    contextSize: 256,
    maxBatch: 64,
  });
  try {
    const times: number[] = [];
    const counts: GpuCounters[] = [];
    let last = performance.now();
    let before = { ...gpu.counters };
    const generation = model.generate('Once upon a time', {
      maxTokens: steps + 2,
      temperature: 0,
      ignoreEos: true,
    });
    let token = 0;
    for await (const piece of generation) {
      void piece;
      const now = performance.now();
      const after = { ...gpu.counters };
      // The first token ends the prefill, the second step is the first decode step (it may
      // still create what later steps reuse): both left out.
      if (token++ >= 2) {
        times.push(now - last);
        counts.push(difference(after, before));
      }
      last = now;
      before = after;
    }
    await generation.result;
    const perStep = average(counts);
    const row: HostRow = {
      model: `${size} (${shape.layers}x${shape.embedding}, ff ${shape.ff})`,
      layers: shape.layers,
      steps: times.length,
      msPerStep: median(times),
      perStep,
      dispatchesPerLayer: perStep.dispatches / shape.layers,
    };
    rows.push(row);
    console.log(
      `${row.model}: ${row.msPerStep.toFixed(2)} ms a decode step; per step ` +
        `${perStep.dispatches} dispatches (${row.dispatchesPerLayer.toFixed(1)} a layer), ` +
        `${perStep.computePasses} passes, ${perStep.submits} submits, ` +
        `${perStep.bindGroupsCreated} bind groups and ${perStep.buffersCreated} buffers created, ` +
        `${perStep.writes} writes (${perStep.bytesWritten} B), ${perStep.bytesRead} B read back`,
    );
  } finally {
    model.destroy();
  }
}
mkdirSync(dirname(flags.out), { recursive: true });
writeFileSync(
  flags.out,
  JSON.stringify({ backend: 'null', weights: flags.weights, rows }, null, 2),
);
console.log(`\nwrote ${flags.out}`);
gpu.destroy();

function difference(a: GpuCounters, b: GpuCounters): GpuCounters {
  return Object.fromEntries(
    Object.keys(a).map((k) => [k, a[k as keyof GpuCounters] - b[k as keyof GpuCounters]]),
  ) as unknown as GpuCounters;
}

function average(all: GpuCounters[]): GpuCounters {
  const keys = Object.keys(all[0]) as (keyof GpuCounters)[];
  return Object.fromEntries(
    keys.map((k) => [k, Math.round((all.reduce((n, c) => n + c[k], 0) / all.length) * 10) / 10]),
  ) as unknown as GpuCounters;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
