// npm run bench:batched-decode [-- --sequences 1,2,4,8] [--steps 32] [--layers 2]
//                                  [--weights Q4_K] [--out FILE] [--swiftshader]
//
// Decode throughput when several sequences (sub-agents) step together through one decoder:
// tokens per second over all sequences, for each count, and the speed-up over one sequence.
// A generated model (its width set by --embedding): on SwiftShader the numbers are relative.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Decoder } from '../src/model/decoder.js';
import type { QuantName } from '../src/model/quant/index.js';
import { tinyModel } from '../src/model/testing/tiny-model.js';
import { bytesSource } from '../src/model/weights.js';
import { acquireNodeGpu } from '../src/node/gpu.js';

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
const max = Math.max(...counts);
const decoder = await Decoder.load(gpu, bytesSource(bytes), {
  contextSize: 16 * Math.ceil((steps + 8) / 16),
  sequences: max,
});
console.log(
  `batched decode on ${gpu.facts.vendor} ${gpu.facts.architecture}: llama ${flags.weights}, ` +
    `${flags.layers} layers of width ${embedding}, ${steps} steps\n`,
);
const rows: { sequences: number; tokensPerSecond: number; msPerStep: number; speedup: number }[] =
  [];
let extra: number[] = [];
for (const n of counts) {
  // The decoder's own sequence (id 0) and n - 1 more, all empty.
  decoder.reset();
  for (const id of extra) decoder.removeSequence(id);
  extra = Array.from({ length: n - 1 }, () => decoder.addSequence());
  const active = [0, ...extra];
  // Prompts of 8 tokens each, then one token per sequence per step.
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
  const ms = (performance.now() - started) / (steps - 1);
  const tokensPerSecond = (n * 1000) / ms;
  const speedup = rows.length ? tokensPerSecond / rows[0].tokensPerSecond : 1;
  rows.push({ sequences: n, tokensPerSecond, msPerStep: ms, speedup });
  console.log(
    `${String(n).padStart(2)} sequences: ${ms.toFixed(1).padStart(8)} ms a step, ` +
      `${tokensPerSecond.toFixed(1).padStart(8)} tok/s in all, ${speedup.toFixed(2)}x one sequence`,
  );
}
mkdirSync(dirname(flags.out), { recursive: true });
writeFileSync(flags.out, JSON.stringify({ adapter: gpu.facts.architecture, rows }, null, 2));
console.log(`\nwrote ${flags.out}`);
decoder.destroy();
gpu.destroy();
