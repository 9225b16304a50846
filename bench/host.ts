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
import { LanguageModel } from '../src/model/language-model.js';
import type { QuantName } from '../src/quant/index.js';
import { bytesSource } from '../src/model/weights.js';
import { acquireNodeGpu } from '../src/node/gpu.js';
import { describeStep, measureSteps, type StepCosts } from './measure.js';
import { benchModel, SHAPES } from './shapes.js';

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: 'L,XL' },
    steps: { type: 'string', default: '32' },
    weights: { type: 'string', default: 'Q4_0' },
    out: { type: 'string', default: 'bench/results/host.json' },
  },
});

const gpu = await acquireNodeGpu({ backend: 'null' });
const rows: (StepCosts & { model: string; layers: number })[] = [];
console.log(`decode steps on Dawn's null backend (host time only), ${flags.weights}\n`);
for (const size of flags.sizes.split(',')) {
  // The null backend holds 512 MiB of buffers: XL (34 MiB a layer in Q4_0) runs 12 of its 16
  // layers here; per-layer figures are what carries over.
  const shape = size === 'XL' ? { ...SHAPES.XL, layers: 12 } : SHAPES[size];
  if (!shape) throw new Error(`unknown size "${size}": ${Object.keys(SHAPES).join(', ')}`);
  const bytes = benchModel(shape, flags.weights as QuantName);
  const model = await LanguageModel.load(gpu, bytesSource(bytes), {
    contextSize: 256,
    maxBatch: 64,
  });
  try {
    const costs = await measureSteps(gpu, model, 'Once upon a time', Number(flags.steps));
    const name = `${size} (${shape.layers}x${shape.embedding}, ff ${shape.ff})`;
    rows.push({ model: name, layers: shape.layers, ...costs });
    console.log(
      `${name}: ${costs.msPerStep.toFixed(2)} ms a decode step; per step ` +
        describeStep(costs.perStep, shape.layers),
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
