// npm run bench:long-context [-- --tokens 10000] [--window 256] [--sinks 4] [--layers 2]
//                                [--out FILE] [--swiftshader]
//
// A long greedy generation through the sliding-window KV cache on a generated model: the KV
// bytes and blocks in use at each thousand tokens (constant once the window is full), the
// evicted tokens, that every overflow event names each evicted token once, that the sinks
// stay, that the logits stay finite, and decode tokens per second. Prints and writes JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { KvOverflow } from '../src/kv/paged-kv-cache.js';
import { Decoder } from '../src/model/decoder.js';
import { tinyModel } from '../src/model/testing/tiny-model.js';
import { bytesSource } from '../src/model/weights.js';
import { acquireNodeGpu } from '../src/node/gpu.js';

const { values: flags } = parseArgs({
  options: {
    tokens: { type: 'string', default: '10000' },
    window: { type: 'string', default: '256' },
    sinks: { type: 'string', default: '4' },
    layers: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/long-context.json' },
    swiftshader: { type: 'boolean' },
  },
});
const total = Number(flags.tokens);
const window = { window: Number(flags.window), sinks: Number(flags.sinks) };

const gpu = await acquireNodeGpu({ forceSwiftShader: flags.swiftshader });
const { bytes } = tinyModel({
  architecture: 'qwen2',
  weights: 'Q4_K',
  layers: Number(flags.layers),
});
const overflows: KvOverflow[] = [];
const decoder = await Decoder.load(gpu, bytesSource(bytes), {
  window,
  onOverflow: (o) => overflows.push(o),
});
console.log(
  `long context on ${gpu.facts.vendor} ${gpu.facts.architecture}: ` +
    `${total} tokens, window ${window.window}, sinks ${window.sinks}, cache ${decoder.contextSize} tokens`,
);
const rows: Record<string, number>[] = [];
const history = [1];
let nonFinite = 0;
let started = performance.now();
let since = 0;
while (history.length < total) {
  await decoder.forward([history[history.length - 1]]);
  history.push(await decoder.argmax());
  if (history.length % 1000 === 0 || history.length === total) {
    const logits = await decoder.logits();
    nonFinite += logits.filter((v) => !Number.isFinite(v)).length;
    const kv = decoder.kvStats();
    const seconds = (performance.now() - started) / 1000;
    const row = {
      tokens: history.length,
      kvBytesInUse: kv.bytesInUse,
      kvBlocksUsed: kv.usedBlocks,
      evictedTokens: decoder.evicted,
      decodeTokensPerSecond: (history.length - 1 - since) / seconds,
    };
    rows.push(row);
    console.log(
      `${String(row.tokens).padStart(6)} tokens: KV ${row.kvBytesInUse} bytes in ${row.kvBlocksUsed} blocks, ` +
        `${row.evictedTokens} evicted, ${row.decodeTokensPerSecond.toFixed(1)} tok/s`,
    );
    started = performance.now();
    since = history.length - 1;
  }
}
// Every evicted token once, in order, and the sinks still first in the cache.
const fed = history.slice(0, -1);
const sinkEnd = Math.ceil(window.sinks / 16) * 16; // sinks are kept as whole blocks
let next = sinkEnd;
let accounted = true;
for (const o of overflows) {
  accounted &&= o.start === next && o.tokens.every((t, i) => t === fed[o.start + i]);
  next = o.end;
}
accounted &&= next === decoder.evicted + sinkEnd && decoder.evicted + decoder.length === fed.length;
const sinksKept = decoder.cachedTokens.slice(0, sinkEnd).every((t, i) => t === fed[i]);
const summary = { nonFinite, accounted, sinksKept, overflowEvents: overflows.length };
console.log(summary);
mkdirSync(dirname(flags.out), { recursive: true });
writeFileSync(flags.out, JSON.stringify({ window, rows, ...summary }, null, 2));
console.log(`wrote ${flags.out}`);
decoder.destroy();
gpu.destroy();
