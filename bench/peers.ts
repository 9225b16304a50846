// npm run bench [-- --sizes S,M] [--formats Q8_0,Q4_K] [--prompt 64] [--decode 32]
//               [--out bench/results/peers]
//
// agentgpu against its peers on the same machine, the same GGUF file and the same run:
// prefill and decode tok/s, time to first token, load time, memory. Peers so far: llama.cpp
// through node-llama-cpp on the CPU (all cores) and with its Vulkan backend on the same Vulkan
// device (it needs the Vulkan loader, libvulkan1; llama.cpp refuses SwiftShader as an
// "Unsupported device", so on a machine without a GPU its rows say why they are empty). Generated models (random weights, a byte-level
// BPE vocabulary) of about 15M (S), 60M (M) and 250M (L) parameters. Writes a markdown table
// (printed), JSON and an SVG chart, each row with the ratio agentgpu / peer.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LanguageModel } from '../src/model/language-model.js';
import type { QuantName } from '../src/model/quant/index.js';
import { tinyModel } from '../src/model/testing/tiny-model.js';
import { bytesSource } from '../src/model/weights.js';
import { acquireNodeGpu } from '../src/node/gpu.js';

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: 'S,M' },
    formats: { type: 'string', default: 'Q8_0,Q4_K' },
    prompt: { type: 'string', default: '64' },
    decode: { type: 'string', default: '32' },
    out: { type: 'string', default: 'bench/results/peers' },
    // Internal: one peer measured in a child process (a backend per process).
    'peer-child': { type: 'string' },
    model: { type: 'string' },
    'prompt-tokens': { type: 'string' },
  },
});
const SIZES = {
  S: { embedding: 512, layers: 6 },
  M: { embedding: 768, layers: 8 },
  L: { embedding: 1024, layers: 20 },
} as const;
const promptTokens = Number(flags.prompt);
const decodeTokens = Number(flags.decode);
const threads = availableParallelism();

interface Measure {
  loadMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  timeToFirstTokenMs: number;
  /** GPU buffers (agentgpu) or the model + context's memory (llama.cpp), bytes. */
  memoryBytes: number;
}

interface Row {
  model: string;
  params: number;
  format: QuantName;
  agentgpu: Measure;
  peers: Record<string, Measure>;
}

const dir = mkdtempSync(join(tmpdir(), 'agentgpu-peers-'));
const PROMPT_TEXT = 'The quick brown fox jumps over the lazy dog while the river runs to the sea. ';

async function agentgpu(bytes: Uint8Array, prompt: number[]): Promise<Measure> {
  const gpu = await acquireNodeGpu();
  try {
    const started = performance.now();
    const model = await LanguageModel.load(gpu, bytesSource(bytes), {
      contextSize: 16 * Math.ceil((prompt.length + decodeTokens + 16) / 16),
      maxBatch: 256,
    });
    const loadMs = performance.now() - started;
    try {
      // Warm-up at the measured shapes: the pipelines compile on first use.
      await model.generate(prompt, { maxTokens: 2, temperature: 0, ignoreEos: true }).result;
      model.closeSession('default');
      const r = await model.generate(prompt, {
        maxTokens: decodeTokens,
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
  } finally {
    gpu.destroy();
  }
}

async function llamaCpp(
  path: string,
  prompt: number[],
  gpu: false | 'vulkan' = false,
): Promise<Measure> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu, build: 'never' });
  const started = performance.now();
  const model = await llama.loadModel({ modelPath: path, gpuLayers: gpu ? 'max' : 0 });
  const context = await model.createContext({
    contextSize: 16 * Math.ceil((prompt.length + decodeTokens + 16) / 16),
    threads,
    batchSize: 512,
  });
  const loadMs = performance.now() - started;
  try {
    // Greedy token by token, each argmax fed back (evaluate() would stop at an end token):
    // the prompt in one batch, then one token a step.
    const next = { generateNext: { token: true, options: { temperature: 0 } } };
    const sequence = context.getSequence();
    const run = async () => {
      await sequence.clearHistory();
      const items = prompt.map((t, i) => (i === prompt.length - 1 ? [t, next] : t));
      const t0 = performance.now();
      let out = (await sequence.controlledEvaluate(items as never))[prompt.length - 1]!.next;
      const first = performance.now();
      for (let n = 1; n < decodeTokens; n++) {
        out = (await sequence.controlledEvaluate([[out.token, next]] as never))[0]!.next;
      }
      const end = performance.now();
      return { first: first - t0, decode: end - first, n: decodeTokens };
    };
    await run(); // warm-up
    const r = await run();
    return {
      loadMs,
      prefillTokensPerSecond: (prompt.length * 1000) / r.first,
      decodeTokensPerSecond: ((r.n - 1) * 1000) / r.decode,
      timeToFirstTokenMs: r.first,
      memoryBytes: model.size + context.stateSize,
    };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

/**
 * llama.cpp's Vulkan backend on the same Vulkan device agentgpu's Dawn uses here (SwiftShader
 * when there is no GPU: ggml-vulkan skips CPU devices unless GGML_VK_VISIBLE_DEVICES names
 * them), in a child process of its own.
 */
async function llamaVulkan(path: string, prompt: number[]): Promise<Measure | string> {
  const { spawn } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
  const env = {
    ...process.env,
    GGML_VK_VISIBLE_DEVICES: process.env.GGML_VK_VISIBLE_DEVICES ?? '0',
    ...(!process.env.VK_ICD_FILENAMES && existsSync(swiftshader)
      ? { VK_ICD_FILENAMES: swiftshader }
      : {}),
  };
  const child = spawn(
    process.execPath,
    [
      'scripts/run-ts.mjs',
      'bench/peers.ts',
      '--peer-child',
      'vulkan',
      '--model',
      path,
      '--prompt-tokens',
      JSON.stringify(prompt),
      '--decode',
      String(decodeTokens),
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const line = out.split('\n').find((l) => l.startsWith('PEER_RESULT '));
  if (code !== 0 || !line) {
    const why = err
      .split('\n')
      .filter((l) => /error|unsupported|vulkan/i.test(l) && !/^\s+at /.test(l))
      .slice(-2)
      .join(' ')
      .trim();
    return `llama.cpp Vulkan gave no figures (exit ${code}): ${why || 'see its output'}`;
  }
  return JSON.parse(line.slice('PEER_RESULT '.length)) as Measure;
}

if (flags['peer-child'] === 'vulkan') {
  const prompt = JSON.parse(flags['prompt-tokens']!) as number[];
  const measure = await llamaCpp(flags.model!, prompt, 'vulkan');
  console.log(`PEER_RESULT ${JSON.stringify(measure)}`);
  process.exit(0);
}

const rows: Row[] = [];
/** Why a peer has no figures (printed under the table). */
const skipped = new Set<string>();
for (const size of flags.sizes.split(',') as (keyof typeof SIZES)[]) {
  const shape = SIZES[size];
  for (const format of flags.formats.split(',') as QuantName[]) {
    const { bytes } = tinyModel({
      architecture: 'llama',
      weights: format,
      layers: shape.layers,
      embedding: shape.embedding,
      feedForward: shape.embedding * 3,
      heads: shape.embedding / 64,
      kvHeads: Math.max(1, shape.embedding / 256),
      contextLength: 4096,
      residualScale: 0.1,
    });
    const path = join(dir, `${size}-${format}.gguf`);
    writeFileSync(path, bytes);
    const E = shape.embedding;
    const params = shape.layers * (2 * E * E + 2 * E * Math.max(64, E / 4) + 3 * E * 3 * E);
    // The same prompt tokens for both: llama.cpp's tokenization of the text.
    const { getLlama } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: false, build: 'never' });
    const tokenizerModel = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    const prompt = tokenizerModel
      .tokenize(PROMPT_TEXT.repeat(8))
      .slice(0, promptTokens)
      .map(Number);
    await tokenizerModel.dispose();
    const ours = await agentgpu(bytes, prompt);
    const cpu = await llamaCpp(path, prompt);
    const vulkan = await llamaVulkan(path, prompt);
    if (typeof vulkan === 'string') {
      console.log(vulkan);
      skipped.add(vulkan);
    }
    const row: Row = {
      model: `${size} (${shape.layers}x${E})`,
      params,
      format,
      agentgpu: ours,
      peers: {
        'llama.cpp CPU': cpu,
        ...(typeof vulkan !== 'string' && { 'llama.cpp Vulkan': vulkan }),
      },
    };
    rows.push(row);
    const peerDecode = Object.entries(row.peers)
      .map(([name, m]) => `${name} ${m.decodeTokensPerSecond.toFixed(1)}`)
      .join(', ');
    console.log(
      `${row.model} ${format}: decode tok/s agentgpu ${ours.decodeTokensPerSecond.toFixed(1)}, ${peerDecode}`,
    );
  }
}
rmSync(dir, { recursive: true, force: true });

const metrics: [keyof Measure, string, boolean][] = [
  ['decodeTokensPerSecond', 'decode tok/s', true],
  ['prefillTokensPerSecond', 'prefill tok/s', true],
  ['timeToFirstTokenMs', 'TTFT ms', false],
  ['loadMs', 'load ms', false],
];
const peerNames = [...new Set(rows.flatMap((r) => Object.keys(r.peers)))];
const lines = [
  `| model | params | format | metric | agentgpu | ${peerNames.map((p) => `${p} | ratio`).join(' | ')} |`,
  `|---|---|---|---|---|${peerNames.map(() => '---|---').join('|')}|`,
];
for (const r of rows) {
  for (const [key, label, higherIsBetter] of metrics) {
    const ours = r.agentgpu[key];
    const cells = peerNames.map((p) => {
      const theirs = r.peers[p]?.[key];
      if (theirs === undefined) return '— | —';
      const ratio = higherIsBetter ? ours / theirs : theirs / ours;
      return `${theirs.toFixed(1)} | ${ratio.toFixed(2)}x`;
    });
    lines.push(
      `| ${r.model} | ${(r.params / 1e6).toFixed(0)}M | ${r.format} | ${label} | ${ours.toFixed(1)} | ${cells.join(' | ')} |`,
    );
  }
}
const table = lines.join('\n');
console.log(`\nagentgpu / peer (above 1x: agentgpu is better; for times, the peer's / ours)\n`);
console.log(table);
for (const why of skipped) console.log(`\n${why}`);

// An SVG bar chart of decode tok/s per row, agentgpu beside each peer.
const bars = rows.flatMap((r) => [
  { label: `${r.model} ${r.format}`, engine: 'agentgpu', value: r.agentgpu.decodeTokensPerSecond },
  ...peerNames.map((p) => ({
    label: `${r.model} ${r.format}`,
    engine: p,
    value: r.peers[p]?.decodeTokensPerSecond ?? 0,
  })),
]);
const max = Math.max(1, ...bars.map((b) => b.value));
const colors = ['#1f3a5f', '#c0392b', '#2e8b57', '#8e44ad'];
const engines = ['agentgpu', ...peerNames];
const svg = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="${40 + bars.length * 22}" font-family="sans-serif" font-size="12">`,
  `<text x="10" y="20" font-weight="bold">decode tok/s (same GGUF, same machine)</text>`,
  ...bars.map((b, i) => {
    const y = 32 + i * 22;
    const w = (b.value / max) * 420;
    const color = colors[engines.indexOf(b.engine) % colors.length];
    return (
      `<text x="10" y="${y + 14}">${b.label} — ${b.engine}</text>` +
      `<rect x="260" y="${y}" width="${w.toFixed(1)}" height="18" fill="${color}"/>` +
      `<text x="${(265 + w).toFixed(1)}" y="${y + 14}">${b.value.toFixed(1)}</text>`
    );
  }),
  '</svg>',
].join('\n');

mkdirSync(join(flags.out, '..'), { recursive: true });
writeFileSync(`${flags.out}.md`, `${table}\n`);
writeFileSync(
  `${flags.out}.json`,
  JSON.stringify({ threads, promptTokens, decodeTokens, rows }, null, 2),
);
writeFileSync(`${flags.out}.svg`, svg);
console.log(`\nwrote ${flags.out}.md, .json, .svg`);
