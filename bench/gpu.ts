// npm run bench:gpu [-- --sizes S,L,XL] [--formats Q4_0,Q8_0,Q4_K,F16] [--steps 32]
//                       [--batches 1,2,4,8,16] [--out FILE] [--swiftshader]
//
// Decode at GPU speed, measured: for each generated model, decode and prefill tok/s, the
// weight bytes a decode step reads times tok/s (GB/s) as a share of the copy bandwidth measured
// in the same run, GPU ms (timestamp queries) against wall ms per decode step, what a decode
// step costs in WebGPU calls, and batched decode. On a GPU machine without Node, through
// ../shared/gpu/pack.sh: `bash .gpu/run.sh "node gpu/gpu.js"`. Here (SwiftShader) it runs the
// small model by default.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { GpuContext } from '../src/gpu/context.js';
import { LanguageModel } from '../src/model/language-model.js';
import type { QuantName } from '../src/quant/index.js';
import { bytesSource } from '../src/model/weights.js';
import { acquireNodeGpu } from '../src/node/gpu.js';
import {
  contextFor,
  copyCeiling,
  describeStep,
  measureBatchedDecode,
  measureSteps,
  profileAgentgpu,
  type BatchedRow,
  type StepCosts,
} from './measure.js';
import { benchModel, SHAPES } from './shapes.js';

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string' },
    formats: { type: 'string' },
    steps: { type: 'string' },
    prompt: { type: 'string', default: '128' },
    batches: { type: 'string', default: '1,2,4,8,16' },
    out: { type: 'string' },
    swiftshader: { type: 'boolean' },
  },
});

const gpu = await acquireNodeGpu({ forceSwiftShader: flags.swiftshader });
const software = gpu.facts.software;
const sizes = (flags.sizes ?? (software ? 'S' : 'S,L,XL')).split(',');
const formats = (flags.formats ?? (software ? 'Q4_0' : 'Q4_0,Q8_0,Q4_K,F16')).split(',');
const steps = Number(flags.steps ?? (software ? 8 : 32));
const batches = flags.batches.split(',').map(Number);
const promptTokens = Number(flags.prompt);
// Where run.sh collects results on a GPU machine, else bench/results.
const out = flags.out ?? join(process.env.RESULTS ?? 'bench/results', 'gpu.json');
// Timestamps need their own device: profiling gives every dispatch a pass of its own, so its
// wall times are not the plain ones.
const profiled = await acquireNodeGpu({ forceSwiftShader: flags.swiftshader, profile: true });

const copy = await copyCeiling(gpu, (software ? 64 : 512) << 20, software ? 200 : 1000);
console.log(
  `${gpu.facts.vendor} ${gpu.facts.architecture} ${gpu.facts.description}; ` +
    `shader-f16 ${gpu.facts.features.shaderF16}, subgroups ${gpu.facts.features.subgroups}; ` +
    `copy bandwidth ${copy.gbPerS.toFixed(1)} GB/s\n`,
);

interface GpuRow {
  model: string;
  format: string;
  weightBytesPerToken: number;
  decodeTokensPerSecond: number;
  prefillTokensPerSecond: number;
  weightGbPerS: number;
  pctOfCopyBandwidth: number;
  /** Per decode step: wall ms (plain device) and GPU ms (timestamps), and their ratio. */
  wallMsPerStep: number;
  gpuMsPerStep: number | null;
  step: StepCosts;
  batched?: BatchedRow[];
}

const rows: GpuRow[] = [];
const prompt = Array.from({ length: promptTokens }, (_, i) => 3 + ((i * 7) % 200));
for (const size of sizes) {
  const shape = SHAPES[size];
  if (!shape) throw new Error(`unknown size "${size}": ${Object.keys(SHAPES).join(', ')}`);
  for (const [f, format] of formats.entries()) {
    const bytes = benchModel(shape, format as QuantName);
    const name = `${size} (${shape.layers}x${shape.embedding})`;
    const row = await measure(gpu, name, format, bytes, shape.layers);
    // Batched decode for each size's first format.
    if (f === 0) {
      row.batched = await measureBatchedDecode(gpu, bytes, batches, steps);
      console.log(
        '  batched decode: ' +
          row.batched
            .map(
              (b) =>
                `${b.sequences}: ${b.tokensPerSecond.toFixed(1)} tok/s (${b.speedup.toFixed(2)}x)`,
            )
            .join(', '),
      );
    }
    rows.push(row);
  }
}

mkdirSync(join(out, '..'), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    { adapter: gpu.facts, copyGbPerS: copy.gbPerS, steps, promptTokens, rows },
    null,
    2,
  ),
);
console.log(`\nwrote ${out}`);
profiled.destroy();
gpu.destroy();

async function measure(
  gpu: GpuContext,
  name: string,
  format: string,
  bytes: Uint8Array,
  layers: number,
): Promise<GpuRow> {
  const model = await LanguageModel.load(gpu, bytesSource(bytes), {
    contextSize: contextFor(promptTokens, steps + 4),
    maxBatch: 256,
  });
  let row: GpuRow;
  try {
    // Every weight is read once a decode step, but of the embedding table one row.
    const embd = model.decoder.weights.get('token_embd.weight');
    const weightBytesPerToken = model.decoder.memory.weights - embd.info.byteSize;
    await model.generate(prompt, { maxTokens: 2, temperature: 0, ignoreEos: true }).result;
    model.closeSession('default');
    const { timings } = await model.generate(prompt, {
      maxTokens: steps,
      temperature: 0,
      ignoreEos: true,
      reusePrefix: false,
    }).result;
    model.closeSession('default');
    const step = await measureSteps(gpu, model, prompt.slice(0, 8), steps);
    const weightGbPerS = (weightBytesPerToken * timings.decodeTokensPerSecond) / 1e9;
    row = {
      model: name,
      format,
      weightBytesPerToken,
      decodeTokensPerSecond: timings.decodeTokensPerSecond,
      prefillTokensPerSecond: timings.prefillTokensPerSecond,
      weightGbPerS,
      pctOfCopyBandwidth: (100 * weightGbPerS) / copy.gbPerS,
      wallMsPerStep: 1000 / timings.decodeTokensPerSecond,
      gpuMsPerStep: null,
      step,
    };
  } finally {
    model.destroy();
  }
  if (profiled.profiler) {
    const profile = await profileAgentgpu(profiled, bytes, prompt.slice(0, 8), steps);
    row.gpuMsPerStep = profile.decode.reduce((ms, k) => ms + k.ms, 0) / (steps - 1);
  }
  console.log(
    `${name} ${format}: decode ${row.decodeTokensPerSecond.toFixed(1)} tok/s ` +
      `(${row.weightGbPerS.toFixed(1)} GB/s of weights, ${row.pctOfCopyBandwidth.toFixed(1)}% of copy), ` +
      `prefill ${row.prefillTokensPerSecond.toFixed(1)} tok/s; a decode step ` +
      `${row.wallMsPerStep.toFixed(2)} ms wall` +
      (row.gpuMsPerStep === null
        ? ' (no timestamp queries here)'
        : `, ${row.gpuMsPerStep.toFixed(2)} ms GPU (${(row.wallMsPerStep / row.gpuMsPerStep).toFixed(2)}x)`) +
      `\n  per step: ${describeStep(row.step.perStep, layers)}`,
  );
  return row;
}
