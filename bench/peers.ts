// npm run bench [-- --plan 'S:Q4_0,Q8_0,Q4_K,F16;M:Q4_0' | --sizes S,M,L --formats Q4_0,F16]
//               [--prompt 64] [--decode 32] [--peers all|llama,onnx,wllama] [--batched 1,2,4,8]
//               [--no-roofline] [--out bench/results/peers]
//
// agentgpu against its peers on the same machine, the same weights and the same run: prefill
// and decode tok/s, time to first token, load time and memory, each peer's row with the ratio
// agentgpu / peer (agentgpu in the same place: Node for the Node peers, the same Chromium for
// the browser ones).
//
//   Node:      llama.cpp's CPU backend (node-llama-cpp, all cores) and its Vulkan backend on the
//              Vulkan device Dawn uses (a child process; needs libvulkan1, and llama.cpp refuses
//              SwiftShader, so on a machine without a GPU its column says why it is empty).
//   Chromium:  onnxruntime-web (WebGPU EP, and wasm) on the GGUF exported to ONNX — MatMulNBits
//              for Q4_0/Q8_0, float MatMul for F16/F32 (src/testing/onnx-llama.ts); Q4_K has no
//              exact MatMulNBits form and is left out — and wllama (llama.cpp in wasm: its WebGPU
//              backend, which needs shader-f16, and its wasm CPU backend).
//
// Then, for agentgpu: GPU time per kernel in a prefill and in decode steps (timestamp queries:
// the kernel to fix first), batched decode with 1/2/4/8 sequences, and the kernel roofline
// (bench/kernels.ts --quick: each kernel's share of the copy bandwidth or the peak FLOP/s
// measured on the same adapter). Models are generated (random weights, a byte-level BPE
// vocabulary): S ≈ 18M, M ≈ 54M, L ≈ 250M parameters. On a GPU machine the same command
// measures the GPU (Chromium is started without SwiftShader when Dawn finds a hardware
// adapter). Writes markdown (printed), JSON and an SVG chart.
import { execFileSync } from 'node:child_process';
import type { Llama } from 'node-llama-cpp';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { modelConfig } from '../src/model/config.js';
import { parseGguf } from '../src/model/gguf/reader.js';
import type { QuantName } from '../src/quant/index.js';
import { tinyModel } from '../src/model/testing/tiny-model.js';
import { acquireNodeGpu } from '../src/node/gpu.js';
import { ggufToOnnx } from '../src/testing/onnx-llama.js';
import { openBenchPage, type BenchPage } from './browser.js';
import {
  contextFor,
  measureAgentgpu,
  measureBatchedDecode,
  profileAgentgpu,
  type BatchedRow,
  type KernelProfile,
  type KernelRow,
  type Measure,
} from './measure.js';

const { values: flags } = parseArgs({
  options: {
    // Which models: --plan 'S:Q4_0,Q8_0;M:Q4_0', or every size x every format given.
    plan: { type: 'string' },
    sizes: { type: 'string' },
    formats: { type: 'string' },
    prompt: { type: 'string', default: '64' },
    decode: { type: 'string', default: '32' },
    peers: { type: 'string', default: 'all' },
    batched: { type: 'string', default: '1,2,4,8' },
    roofline: { type: 'boolean', default: true },
    out: { type: 'string', default: 'bench/results/peers' },
    // Internal: llama.cpp's Vulkan backend measured in a child process of its own.
    'peer-child': { type: 'string' },
    model: { type: 'string' },
    'prompt-tokens': { type: 'string' },
  },
  allowNegative: true,
});
const SIZES = {
  S: { embedding: 512, layers: 6 },
  M: { embedding: 768, layers: 8 },
  L: { embedding: 1024, layers: 20 },
} as const;
type Size = keyof typeof SIZES;
/**
 * The default plan fits the 20 minutes a run may take on 2 cores and SwiftShader: every format
 * at S, Q4_0 at M. On a GPU: --sizes S,M,L --formats Q4_0,Q8_0,Q4_K,F16.
 */
const DEFAULT_PLAN = 'S:Q4_0,Q8_0,Q4_K,F16;M:Q4_0';
const plan: [Size, QuantName[]][] =
  flags.sizes || flags.formats
    ? (flags.sizes ?? 'S,M')
        .split(',')
        .map((size) => [
          size as Size,
          (flags.formats ?? 'Q4_0,Q8_0,Q4_K,F16').split(',') as QuantName[],
        ])
    : (flags.plan ?? DEFAULT_PLAN).split(';').map((part) => {
        const [size, formats] = part.split(':');
        return [size as Size, formats.split(',') as QuantName[]];
      });
const promptTokens = Number(flags.prompt);
const decodeTokens = Number(flags.decode);
const threads = availableParallelism();

interface Engine {
  name: string;
  /** Node or the Chromium page: each peer's ratio is taken against agentgpu in the same place. */
  place: 'node' | 'chromium';
  ours?: boolean;
}
const ENGINES = [
  { name: 'agentgpu (Node)', place: 'node', ours: true },
  { name: 'llama.cpp CPU', place: 'node' },
  { name: 'llama.cpp Vulkan', place: 'node' },
  { name: 'agentgpu (Chromium)', place: 'chromium', ours: true },
  { name: 'onnxruntime-web WebGPU', place: 'chromium' },
  { name: 'onnxruntime-web wasm', place: 'chromium' },
  { name: 'wllama WebGPU', place: 'chromium' },
  { name: 'wllama wasm', place: 'chromium' },
] as const satisfies readonly Engine[];
type EngineName = (typeof ENGINES)[number]['name'];
const engine = (name: EngineName): Engine => ENGINES.find((e) => e.name === name)!;
const wanted = (name: EngineName) =>
  flags.peers === 'all' ||
  engine(name).ours ||
  flags.peers.split(',').some((p) => name.toLowerCase().includes(p.trim().toLowerCase()));

interface Row {
  model: string;
  size: Size;
  params: number;
  format: QuantName;
  results: Partial<Record<EngineName, Measure>>;
  /** Why an engine has no figures on this row. */
  missing: Partial<Record<EngineName, string>>;
  profile?: KernelProfile;
  /** How the ONNX export gave onnxruntime each weight (per execution provider). */
  onnx?: Partial<Record<'webgpu' | 'wasm', string>>;
}

/** One llama.cpp CPU instance for the whole run (each getLlama adds process listeners). */
let llamaCpu: Promise<Llama> | undefined;
function cpuLlama() {
  llamaCpu ??= import('node-llama-cpp').then(({ getLlama }) =>
    getLlama({ gpu: false, build: 'never' }),
  );
  return llamaCpu;
}

const PROMPT_TEXT = 'The quick brown fox jumps over the lazy dog while the river runs to the sea. ';

async function llamaCpp(
  path: string,
  prompt: number[],
  gpu: false | 'vulkan' = false,
): Promise<Measure> {
  const llama = gpu
    ? await (await import('node-llama-cpp')).getLlama({ gpu, build: 'never' })
    : await cpuLlama();
  const started = performance.now();
  const model = await llama.loadModel({ modelPath: path, gpuLayers: gpu ? 'max' : 0 });
  const context = await model.createContext({
    contextSize: contextFor(prompt.length, decodeTokens),
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
      return { first: first - t0, decode: performance.now() - first };
    };
    await run(); // warm-up
    const r = await run();
    return {
      loadMs,
      prefillTokensPerSecond: (prompt.length * 1000) / r.first,
      decodeTokensPerSecond: ((decodeTokens - 1) * 1000) / r.decode,
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
    if (/NoBinaryFoundError/.test(err)) {
      return (
        'no llama.cpp Vulkan build loads here (the Vulkan loader, libvulkan1, is missing; with ' +
        'it, llama.cpp refuses SwiftShader: "Unsupported device")'
      );
    }
    return `gave no figures (exit ${code}): ${why || 'see its output'}`;
  }
  return JSON.parse(line.slice('PEER_RESULT '.length)) as Measure;
}

if (flags['peer-child'] === 'vulkan') {
  const prompt = JSON.parse(flags['prompt-tokens']!) as number[];
  const measure = await llamaCpp(flags.model!, prompt, 'vulkan');
  console.log(`PEER_RESULT ${JSON.stringify(measure)}`);
  process.exit(0);
}

/** The engine's figures, or why there are none (its error's first line). */
async function attempt(
  row: Row,
  name: EngineName,
  run: () => Promise<Measure | string>,
): Promise<void> {
  if (!wanted(name)) return;
  const started = performance.now();
  try {
    const result = await run();
    if (typeof result === 'string') row.missing[name] = result;
    else row.results[name] = result;
  } catch (error) {
    const message = (error as Error).message.replace(/^page\.evaluate: (Error: )?/, '');
    row.missing[name] = message.split('\n')[0].slice(0, 300);
  }
  const took = ((performance.now() - started) / 1000).toFixed(0);
  const m = row.results[name];
  console.log(
    `  ${name.padEnd(24)} ${m ? `decode ${m.decodeTokensPerSecond.toFixed(1)} tok/s, prefill ${m.prefillTokensPerSecond.toFixed(1)} tok/s` : `— ${row.missing[name]}`} (${took} s)`,
  );
}

const benchStarted = performance.now();
const dir = mkdtempSync(join(tmpdir(), 'agentgpu-peers-'));
const probe = await acquireNodeGpu();
const adapter = `${probe.facts.vendor} ${probe.facts.architecture}`.trim();
const software = probe.facts.software;
probe.destroy();
const page: BenchPage | undefined = ENGINES.some((e) => e.place === 'chromium' && wanted(e.name))
  ? await openBenchPage({ swiftshader: software })
  : undefined;
const wllamaWasm = page?.urlOf('node_modules/@wllama/wllama/esm/wasm/wllama.wasm');
console.log(
  `agentgpu vs peers: Dawn adapter ${adapter}${page ? `, Chromium adapter ${page.adapter}` : ''}, ` +
    `${cpus()[0]?.model ?? 'CPU'} x${threads}; prompt ${promptTokens}, decode ${decodeTokens}\n`,
);

const rows: Row[] = [];
const batched: { model: string; format: QuantName; rows: BatchedRow[] }[] = [];
try {
  for (const [size, formats] of plan) {
    const shape = SIZES[size];
    if (!shape) throw new Error(`unknown model size "${size}": S, M or L`);
    for (const format of formats) {
      const E = shape.embedding;
      const { bytes } = tinyModel({
        architecture: 'llama',
        weights: format,
        layers: shape.layers,
        embedding: E,
        feedForward: E * 3,
        heads: E / 64,
        kvHeads: Math.max(1, E / 256),
        contextLength: 4096,
        residualScale: 0.1,
      });
      const path = join(dir, `${size}-${format}.gguf`);
      writeFileSync(path, bytes);
      const params = shape.layers * (2 * E * E + 2 * E * Math.max(64, E / 4) + 9 * E * E);
      const row: Row = {
        model: `${size} (${shape.layers}x${E})`,
        size,
        params,
        format,
        results: {},
        missing: {},
      };
      rows.push(row);
      console.log(`${row.model} ${format}, ${(params / 1e6).toFixed(0)}M parameters`);

      // The same prompt tokens for all: llama.cpp's tokenization of the text. wllama takes
      // text, so it gets those tokens' text, and a bias away from the tokens that are not
      // whole ASCII text (its JSON replies throw on a random model's stray bytes).
      const tokenizer = await (await cpuLlama()).loadModel({ modelPath: path, gpuLayers: 0 });
      const prompt = tokenizer.tokenize(PROMPT_TEXT.repeat(8)).slice(0, promptTokens).map(Number);
      const promptText = tokenizer.detokenize(prompt as never);
      const banned: number[] = [];
      const vocab = modelConfig(parseGguf(bytes)).vocabSize;
      for (let t = 0; t < vocab; t++) {
        const text = tokenizer.detokenize([t] as never, true);
        if (!/^[\x20-\x7e]+$/.test(text)) banned.push(t);
      }
      await tokenizer.dispose();

      await attempt(row, 'agentgpu (Node)', async () => {
        const gpu = await acquireNodeGpu();
        try {
          return await measureAgentgpu(gpu, bytes, prompt, decodeTokens);
        } finally {
          gpu.destroy();
        }
      });
      await attempt(row, 'llama.cpp CPU', () => llamaCpp(path, prompt));
      await attempt(row, 'llama.cpp Vulkan', () => llamaVulkan(path, prompt));
      if (page) {
        const gguf = page.serve(`${size}-${format}.gguf`, bytes);
        await attempt(row, 'agentgpu (Chromium)', () =>
          page.call('agentgpu', gguf, prompt, decodeTokens),
        );
        for (const ep of ['webgpu', 'wasm'] as const) {
          await attempt(row, `onnxruntime-web ${ep === 'webgpu' ? 'WebGPU' : 'wasm'}`, async () => {
            if (format === 'Q4_K') {
              return 'Q4_K has no exact MatMulNBits form (its sub-block minimums): see the Q4_0 rows';
            }
            // onnxruntime-web's WebGPU MatMulNBits takes 2 and 4 bits: Q8_0 goes in as floats.
            const exported = ggufToOnnx(bytes, { nbits8: ep === 'wasm' });
            const onnx = page.serve(`${size}-${format}-${ep}.onnx`, exported.onnx);
            row.onnx ??= {};
            row.onnx[ep] = exported.matmul;
            return page.call('onnxruntime', onnx, exported.config, prompt, decodeTokens, ep);
          });
        }
        for (const gpu of [true, false]) {
          await attempt(row, gpu ? 'wllama WebGPU' : 'wllama wasm', () =>
            page.call(
              'wllama',
              gguf,
              wllamaWasm!,
              promptText,
              prompt.length,
              decodeTokens,
              gpu,
              banned,
            ),
          );
        }
      }

      // Where agentgpu's GPU time goes on this model.
      const gpu = await acquireNodeGpu({ profile: true });
      try {
        if (gpu.profiler) {
          row.profile = await profileAgentgpu(gpu, bytes, prompt, Math.min(decodeTokens, 8));
        }
        if (format === formats[0] && flags.batched) {
          const counts = flags.batched.split(',').map(Number);
          batched.push({
            model: row.model,
            format,
            rows: await measureBatchedDecode(gpu, bytes, counts, 16),
          });
        }
      } finally {
        gpu.destroy();
      }
    }
  }
} finally {
  await page?.close();
  rmSync(dir, { recursive: true, force: true });
}

let roofline: KernelRow[] = [];
if (flags.roofline) {
  console.log('\nkernel roofline (npm run bench:kernels -- --quick)');
  const out = join(tmpdir(), `agentgpu-kernels-${process.pid}.json`);
  try {
    execFileSync(
      process.execPath,
      ['scripts/run-ts.mjs', 'bench/kernels.ts', '--quick', '--out', out],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    roofline = (JSON.parse(readFileSync(out, 'utf8')) as { results: KernelRow[] }).results;
  } catch (error) {
    console.log(`the kernel benchmark failed: ${(error as Error).message}`);
  } finally {
    rmSync(out, { force: true });
  }
}

// ---- report ----
const names = ENGINES.filter((e) => rows.some((r) => r.results[e.name] || r.missing[e.name]));
const metrics: [keyof Measure, string, boolean, number][] = [
  ['decodeTokensPerSecond', 'decode tok/s', true, 1],
  ['prefillTokensPerSecond', 'prefill tok/s', true, 1],
  ['timeToFirstTokenMs', 'TTFT ms', false, 1],
  ['loadMs', 'load ms', false, 1],
  ['memoryBytes', 'memory MiB', false, 1 / 2 ** 20],
];
const notes: string[] = [];
const noteFor = (text: string) => {
  let i = notes.indexOf(text);
  if (i < 0) i = notes.push(text) - 1;
  return `[${i + 1}]`;
};
const lines = [
  `| model | format | metric | ${names.map((e) => e.name).join(' | ')} |`,
  `|---|---|---|${names.map(() => '---:').join('|')}|`,
];
for (const r of rows) {
  for (const [key, label, higherIsBetter, scale] of metrics) {
    const cells = names.map((e) => {
      const m = r.results[e.name];
      if (!m) return r.missing[e.name] ? `— ${noteFor(`${e.name}: ${r.missing[e.name]}`)}` : '';
      const value = m[key]! * scale;
      const ours = ENGINES.find((o) => engine(o.name).ours && o.place === e.place)!.name;
      const base = r.results[ours]?.[key];
      if (engine(e.name).ours || base === undefined) return value.toFixed(1);
      const ratio = higherIsBetter ? base / m[key]! : m[key]! / base;
      return `${value.toFixed(1)} (${ratio.toFixed(2)}x)`;
    });
    lines.push(
      `| ${r.model} ${(r.params / 1e6).toFixed(0)}M | ${r.format} | ${label} | ${cells.join(' | ')} |`,
    );
  }
}
const sections = [
  `# agentgpu vs peers`,
  '',
  `Dawn adapter: ${adapter}${page ? `; Chromium adapter: ${page.adapter}` : ''}; ` +
    `${cpus()[0]?.model ?? 'CPU'} x${threads}; prompt ${promptTokens} tokens, ` +
    `decode ${decodeTokens}; greedy. In brackets: agentgpu / peer (agentgpu in the same place: ` +
    'Node or Chromium), above 1x agentgpu is better; for times and memory, peer / agentgpu. ' +
    'Memory: agentgpu its GPU buffers, llama.cpp model + context, browser peers the JS heap.',
  '',
  lines.join('\n'),
  '',
  ...notes.map((n, i) => `[${i + 1}] ${n}`),
];
const exports = rows.filter((r) => r.onnx);
if (exports.length) {
  sections.push(
    '',
    'onnxruntime-web got the weights as: ' +
      exports
        .map(
          (r) =>
            `${r.size} ${r.format}: ` +
            Object.entries(r.onnx!)
              .map(([ep, how]) => `${ep} ${how}`)
              .join(', '),
        )
        .join('; ') +
      '.',
  );
}
const profiled = rows.filter((r) => r.profile);
if (profiled.length) {
  sections.push(
    '',
    '## Where agentgpu spends its GPU time (timestamp queries)',
    '',
    '| model | format | phase | GPU ms of wall ms | kernels, largest share first |',
    '|---|---|---|---:|---|',
    ...profiled.flatMap((r) =>
      (['prefill', 'decode'] as const).map((phase) => {
        const kernels = r.profile![phase];
        const gpuMs = kernels.reduce((sum, k) => sum + k.ms, 0);
        const wallMs = r.profile![phase === 'prefill' ? 'prefillWallMs' : 'decodeWallMs'];
        const top = kernels
          .slice(0, 3)
          .map((k) => `${k.kernel} ${(k.share * 100).toFixed(0)}% (${k.ms.toFixed(0)} ms)`);
        return `| ${r.model} | ${r.format} | ${phase} | ${gpuMs.toFixed(0)} of ${wallMs.toFixed(0)} | ${top.join(', ')} |`;
      }),
    ),
  );
}
if (batched.length) {
  sections.push(
    '',
    '## Batched decode (agentgpu, Node): tok/s over all sequences',
    '',
    `| model | format | ${batched[0].rows.map((b) => `${b.sequences} seq`).join(' | ')} |`,
    `|---|---|${batched[0].rows.map(() => '---:').join('|')}|`,
    ...batched.map(
      (b) =>
        `| ${b.model} | ${b.format} | ${b.rows.map((x) => `${x.tokensPerSecond.toFixed(1)} (${x.speedup.toFixed(2)}x)`).join(' | ')} |`,
    ),
  );
}
if (roofline.length) {
  sections.push(
    '',
    '## Kernel roofline (bench:kernels --quick): share of the measured ceiling',
    '',
    "Memory-bound kernels against the copy kernel's bandwidth, GEMM against peak FMA FLOP/s.",
    '',
    '| kernel | variant | shape | ms | GB/s | GFLOP/s | % of ceiling |',
    '|---|---|---|---:|---:|---:|---:|',
    ...roofline.map(
      (k) =>
        `| ${k.kernel} | ${k.variant} | ${k.shape} | ${k.ms.toFixed(2)} | ${k.gbPerS.toFixed(2)} | ${k.gflopPerS.toFixed(2)} | ${k.pctOfCeiling.toFixed(1)} |`,
    ),
  );
}
const minutes = (performance.now() - benchStarted) / 60000;
sections.push('', `Run took ${minutes.toFixed(1)} min.`);
const report = sections.join('\n');
console.log(`\n${report}`);

// An SVG bar chart of decode tok/s per row and engine.
const bars = rows.flatMap((r) =>
  names
    .filter((e) => r.results[e.name])
    .map((e) => ({
      label: `${r.model} ${r.format}`,
      engine: e.name,
      value: r.results[e.name]!.decodeTokensPerSecond,
    })),
);
const max = Math.max(1, ...bars.map((b) => b.value));
const colors = [
  '#1f3a5f',
  '#c0392b',
  '#e67e22',
  '#4a7ab5',
  '#2e8b57',
  '#16a085',
  '#8e44ad',
  '#7f8c8d',
];
const svg = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="${40 + bars.length * 22}" font-family="sans-serif" font-size="12">`,
  `<text x="10" y="20" font-weight="bold">decode tok/s (same weights, same machine; log scale)</text>`,
  ...bars.map((b, i) => {
    const y = 32 + i * 22;
    const w = (Math.log10(1 + b.value) / Math.log10(1 + max)) * 400;
    const color = colors[ENGINES.findIndex((e) => e.name === b.engine) % colors.length];
    return (
      `<text x="10" y="${y + 14}">${b.label} — ${b.engine}</text>` +
      `<rect x="330" y="${y}" width="${w.toFixed(1)}" height="18" fill="${color}"/>` +
      `<text x="${(335 + w).toFixed(1)}" y="${y + 14}">${b.value.toFixed(1)}</text>`
    );
  }),
  '</svg>',
].join('\n');

mkdirSync(join(flags.out, '..'), { recursive: true });
writeFileSync(`${flags.out}.md`, `${report}\n`);
writeFileSync(
  `${flags.out}.json`,
  JSON.stringify(
    {
      adapter,
      chromiumAdapter: page?.adapter,
      threads,
      promptTokens,
      decodeTokens,
      rows,
      batched,
      roofline,
    },
    null,
    2,
  ),
);
writeFileSync(`${flags.out}.svg`, svg);
console.log(`\nwrote ${flags.out}.md, .json, .svg`);
