// npm run bench:batched-decode [-- --sequences 1,2,4,8] [--steps 32] [--layers 2]
//                                  [--weights Q4_K] [--out FILE] [--swiftshader]
//
// Decode throughput when several sequences (sub-agents) step together through one decoder:
// tokens per second over all sequences, for each count, and the speed-up over one sequence.
// A generated model (its width set by --embedding): on SwiftShader the numbers are relative.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { QuantName } from '../src/quant/index.js';
import { tinyModel } from '../src/model/testing/tiny-model.js';
import { acquireNodeGpu } from '../src/node/gpu.js';
import { measureBatchedDecode } from './measure.js';

const { values: flags } = parseArgs({
  options: {
    sequences: { type: 'string', default: '1,2,4,8' },
    steps: { type: 'string', default: '32' },
    layers: { type: 'string', default: '2' },
    embedding: { type: 'string', default: '1024' },
    weights: { type: 'string', default: 'Q4_K' },
    out: { type: 'string', default: 'bench/results/batched-decode.json' },
    swiftshader: { type: 'boolean' },
  },
});
const counts = flags.sequences.split(',').map(Number);
const steps = Number(flags.steps);
const embedding = Number(flags.embedding);

const gpu = await acquireNodeGpu({ forceSwiftShader: flags.swiftshader });
const { bytes } = tinyModel({
  architecture: 'llama',
  weights: flags.weights as QuantName,
  layers: Number(flags.layers),
  embedding,
  feedForward: embedding * 3,
  heads: embedding / 64,
  kvHeads: Math.max(1, embedding / 256),
});
console.log(
  `batched decode on ${gpu.facts.vendor} ${gpu.facts.architecture}: llama ${flags.weights}, ` +
    `${flags.layers} layers of width ${embedding}, ${steps} steps\n`,
);
const rows = await measureBatchedDecode(gpu, bytes, counts, steps, (r) =>
  console.log(
    `${String(r.sequences).padStart(2)} sequences: ${r.msPerStep.toFixed(1).padStart(8)} ms a step, ` +
      `${r.tokensPerSecond.toFixed(1).padStart(8)} tok/s in all, ${r.speedup.toFixed(2)}x one sequence`,
  ),
);
mkdirSync(dirname(flags.out), { recursive: true });
writeFileSync(flags.out, JSON.stringify({ adapter: gpu.facts.architecture, rows }, null, 2));
console.log(`\nwrote ${flags.out}`);
gpu.destroy();
