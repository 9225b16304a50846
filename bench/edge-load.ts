// npm run bench:edge-load [-- --clients 8] [--minutes 5] [--max-tokens 32] [--embedding 512]
//                           [--layers 4] [--out FILE]
//
// Load on the edge server: `agentgpu serve` (a child process, as deployed) on a generated
// model, N concurrent streaming clients for M minutes. Reports errors, the server's and its
// host process's resident memory at the start and end (and the most in between), and the
// throughput with N clients against one client alone for the same time (batched decode vs
// sequential). Needs `npm run build` first (it runs bin/agentgpu.js).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { tinyModel } from '../src/model/testing/tiny-model.js';
import { startServeProcess } from '../src/node/testing/serve-process.js';

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    minutes: { type: 'string', default: '5' },
    'solo-minutes': { type: 'string' },
    'max-tokens': { type: 'string', default: '32' },
    embedding: { type: 'string', default: '512' },
    layers: { type: 'string', default: '4' },
    out: { type: 'string', default: 'bench/results/edge-load.json' },
  },
});
const clients = Number(flags.clients);
const minutes = Number(flags.minutes);
const soloMinutes = Number(flags['solo-minutes'] ?? Math.min(1, minutes));
const maxTokens = Number(flags['max-tokens']);

const dir = mkdtempSync(join(tmpdir(), 'agentgpu-load-'));
const modelPath = join(dir, 'model.gguf');
const embedding = Number(flags.embedding);
const layers = Number(flags.layers);
const { bytes } = tinyModel({
  architecture: 'qwen2',
  weights: 'Q8_0',
  layers,
  embedding,
  feedForward: embedding * 3,
  heads: embedding / 64,
  kvHeads: Math.max(1, embedding / 256),
  contextLength: 2048,
});
writeFileSync(modelPath, bytes);

const { url, child: server } = await startServeProcess([
  '--model',
  modelPath,
  '--id',
  'load',
  '--sequences',
  String(clients),
  '--context-size',
  '1024',
]);

/** Resident memory (KiB) of the server and its children (the model host). */
function rssKiB(): number {
  const pids = [server.pid!];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === server.pid) pids.push(Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids.reduce((sum, pid) => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return sum + Number(m?.[1] ?? 0);
    } catch {
      return sum;
    }
  }, 0);
}

const topics = ['rivers', 'trains', 'music', 'gardens', 'chess', 'weather', 'cooking', 'stars'];

/** One client: streamed requests back to back until `until`; tokens generated and errors. */
async function client(i: number, until: number) {
  let tokens = 0;
  let requests = 0;
  const errors: string[] = [];
  while (Date.now() < until) {
    try {
      const res = await fetch(`${url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'load',
          messages: [
            {
              role: 'user',
              content: `Client ${i}, request ${requests}: ${topics[(i + requests) % topics.length]}`,
            },
          ],
          max_tokens: maxTokens,
          temperature: 0.8,
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
      const text = await res.text();
      if (!text.endsWith('data: [DONE]\n\n')) throw new Error('a stream ended without [DONE]');
      const usage = /"usage":\{"prompt_tokens":\d+,"completion_tokens":(\d+)/.exec(text);
      if (!usage) throw new Error('a stream without its usage chunk');
      tokens += Number(usage[1]);
      requests++;
    } catch (error) {
      errors.push((error as Error).message);
    }
  }
  return { tokens, requests, errors };
}

async function run(n: number, ms: number) {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => client(i, Date.now() + ms)),
  );
  const seconds = (performance.now() - started) / 1000;
  const tokens = results.reduce((s, r) => s + r.tokens, 0);
  return {
    clients: n,
    seconds,
    requests: results.reduce((s, r) => s + r.requests, 0),
    tokens,
    tokensPerSecond: tokens / seconds,
    errors: results.flatMap((r) => r.errors),
  };
}

// Warm-up: the pipelines compile on the first request.
await run(1, 1);
const solo = await run(1, soloMinutes * 60_000);
console.log(`1 client: ${solo.tokensPerSecond.toFixed(2)} tok/s over ${solo.seconds.toFixed(0)} s`);
const rssStart = rssKiB();
const samples: number[] = [rssStart];
const sampler = setInterval(() => samples.push(rssKiB()), 5_000);
const load = await run(clients, minutes * 60_000);
clearInterval(sampler);
const rssEnd = rssKiB();
server.kill('SIGTERM');
const result = {
  model: `generated qwen2 Q8_0, ${layers} layers x ${embedding}`,
  device: 'see agentgpu info',
  maxTokens,
  solo,
  load: { ...load, errors: load.errors.length, firstErrors: load.errors.slice(0, 5) },
  speedup: load.tokensPerSecond / solo.tokensPerSecond,
  rssKiB: { start: rssStart, end: rssEnd, max: Math.max(...samples) },
};
console.log(
  `${clients} clients for ${minutes} min: ${load.requests} requests, ${load.tokens} tokens, ` +
    `${load.tokensPerSecond.toFixed(2)} tok/s (${result.speedup.toFixed(2)}x one client), ` +
    `${load.errors.length} errors`,
);
console.log(
  `resident memory (server + host): start ${(rssStart / 1024).toFixed(0)} MiB, end ` +
    `${(rssEnd / 1024).toFixed(0)} MiB, max ${(result.rssKiB.max / 1024).toFixed(0)} MiB`,
);
mkdirSync(dirname(flags.out!), { recursive: true });
writeFileSync(flags.out!, JSON.stringify(result, null, 2));
