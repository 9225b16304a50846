#!/usr/bin/env node
// The agentgpu command line: info, generate, chat.
import { parseArgs } from 'node:util';
import { AgentGpuError } from '../errors.js';
import { formatBytes, limitNames, type GpuFacts } from '../gpu/facts.js';
import { checkMatvec, type KernelCheckResult } from '../kernels/checks/index.js';
import type { KvFormat } from '../kernels/attention.js';
import {
  GENERATION_RANGES,
  LOAD_RANGES,
  loadOptionsProblem,
  rangeProblem,
  type OptionRange,
} from '../model/option-ranges.js';
import { acquireNodeGpu } from './gpu.js';
import {
  chatCommand,
  generateCommand,
  serveCommand,
  type ModelCommandOptions,
} from './cli-model.js';

const usage = `usage: agentgpu <command> [options]

commands:
  info [--json]   the WebGPU adapter (vendor, architecture, f16, subgroups, limits)
                  and a matvec self-check against the CPU reference
  generate --model PATH_OR_URL --prompt TEXT [--max-tokens N] [--temperature T]
           [--seed S] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]
           [--stop TEXT]... [--context-size N] [--window W [--sinks S]]
           [--kv f32|f16|int8] [--json]
                  a raw completion of TEXT (BOS as the model says); --temperature 0 is
                  greedy; --window keeps the first S (default 4) and the latest W tokens,
                  so generation runs on in constant memory; --kv stores the KV cache as
                  f32 (default), f16 (needs shader-f16) or int8; --json prints
                  {"prompt_tokens","tokens","text","timings","kv"}
  chat --model PATH_OR_URL [--system TEXT]
                  an interactive chat through the model's chat template
  serve --model PATH_OR_URL [--port N] [--host ADDR] [--api-key KEY] [--id NAME]
        [--sequences N] [--queue N] [--allowed-host NAME]... [--allow-origin ORIGIN]...
        [--context-size N] [--window W [--sinks S]] [--kv f32|f16|int8]
                  an OpenAI-compatible server: /v1/chat/completions, /v1/completions,
                  /v1/embeddings, /v1/models (port 8080, 127.0.0.1); concurrent requests
                  share batched decode steps (--sequences, default 8); more than --queue
                  (default 64) waiting get 429; --api-key (or AGENTGPU_API_KEY) requires
                  Authorization: Bearer KEY; Host headers other than localhost need
                  --allowed-host; pages of other origins may call it only when named
                  with --allow-origin (e.g. http://localhost:5173; * for any)

options:
  --swiftshader   use SwiftShader (CPU Vulkan) even when a GPU adapter exists
  -h, --help      this text`;

function describe(facts: GpuFacts, check: KernelCheckResult): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const limits = limitNames.map((name) => {
    const value = facts.limits[name];
    const shown =
      /Size$/.test(name) && value >= 65536 ? `${value} (${formatBytes(value)})` : String(value);
    return `  ${name.padEnd(36)}${shown}`;
  });
  return [
    `adapter       ${facts.vendor} ${facts.architecture}${facts.description ? ` (${facts.description})` : ''}`,
    `kind          ${facts.software ? 'software (CPU) implementation' : 'hardware GPU'}`,
    `shader-f16    ${yes(facts.features.shaderF16)}`,
    `subgroups     ${yes(facts.features.subgroups)}` +
      (facts.features.subgroups
        ? ` (size ${facts.subgroupMinSize}..${facts.subgroupMaxSize})`
        : ''),
    `int8 dot      ${yes(facts.features.packedIntegerDot)} (packed_4x8_integer_dot_product)`,
    'limits',
    ...limits,
    `self-check    ${check.kernel} ${check.shape} [${check.variant}]: nmse ${check.nmse.toExponential(2)} ` +
      `(limit ${check.limit.toExponential(0)}), max |err| ${check.maxAbsError.toExponential(2)} -> ` +
      (check.passed ? 'PASS' : 'FAIL'),
    ...facts.notes.map((note) => `note          ${note}`),
  ].join('\n');
}

async function info(json: boolean, forceSwiftShader: boolean): Promise<number> {
  const gpu = await acquireNodeGpu({ forceSwiftShader });
  try {
    const check = await checkMatvec(gpu, 256, 1024, 42);
    console.log(
      json
        ? JSON.stringify({ adapter: gpu.facts, selfCheck: check }, null, 2)
        : describe(gpu.facts, check),
    );
    return check.passed ? 0 : 1;
  } finally {
    gpu.destroy();
  }
}

/** A number flag, or an error message naming it. */
function numberFlag(
  values: Record<string, unknown>,
  name: string,
  range: OptionRange,
): number | undefined | string {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = raw === '' ? NaN : Number(raw);
  return rangeProblem(`--${name}`, Number.isNaN(n) ? raw : n, range) ?? n;
}

const kvFormats: readonly KvFormat[] = ['f32', 'f16', 'int8'];

/** The model commands' options from the flags, or what is wrong with them. */
function modelOptions(values: Record<string, unknown>): ModelCommandOptions | string {
  if (typeof values.model !== 'string') return '--model PATH_OR_URL is required';
  const flags: Record<string, number | undefined> = {};
  const r = GENERATION_RANGES;
  for (const [name, range] of [
    ['max-tokens', r.maxTokens],
    ['context-size', LOAD_RANGES.contextSize],
    ['temperature', r.temperature],
    ['seed', r.seed],
    ['top-k', r.topK],
    ['top-p', r.topP],
    ['min-p', r.minP],
    ['repeat-penalty', r.repeatPenalty],
    ['window', LOAD_RANGES.window],
    ['sinks', LOAD_RANGES.sinks],
  ] as const) {
    const n = numberFlag(values, name, range);
    if (typeof n === 'string') return n;
    flags[name] = n;
  }
  const { window, sinks } = flags;
  if (sinks !== undefined && window === undefined) return '--sinks goes with --window';
  const windowed = window === undefined ? undefined : { window, sinks: sinks ?? 4 };
  const problem = loadOptionsProblem({ window: windowed }, (option) =>
    option === 'contextSize' ? '--context-size' : `--${option}`,
  );
  if (problem) return problem;
  const kv = values.kv;
  if (kv !== undefined && !kvFormats.includes(kv as KvFormat)) {
    return `--kv takes ${kvFormats.join(', ')}, got "${String(kv)}"`;
  }
  return {
    model: values.model,
    contextSize: flags['context-size'],
    kv: kv as KvFormat | undefined,
    window: windowed,
    forceSwiftShader: values.swiftshader === true,
    generate: {
      maxTokens: flags['max-tokens'],
      temperature: flags.temperature,
      seed: flags.seed,
      topK: flags['top-k'],
      topP: flags['top-p'],
      minP: flags['min-p'],
      repeatPenalty: flags['repeat-penalty'],
      stop: values.stop as string[] | undefined,
    },
  };
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        swiftshader: { type: 'boolean' },
        model: { type: 'string' },
        prompt: { type: 'string' },
        system: { type: 'string' },
        'max-tokens': { type: 'string' },
        'context-size': { type: 'string' },
        temperature: { type: 'string' },
        seed: { type: 'string' },
        'top-k': { type: 'string' },
        'top-p': { type: 'string' },
        'min-p': { type: 'string' },
        'repeat-penalty': { type: 'string' },
        window: { type: 'string' },
        sinks: { type: 'string' },
        kv: { type: 'string' },
        stop: { type: 'string', multiple: true },
        port: { type: 'string' },
        host: { type: 'string' },
        'api-key': { type: 'string' },
        id: { type: 'string' },
        sequences: { type: 'string' },
        queue: { type: 'string' },
        'allowed-host': { type: 'string', multiple: true },
        'allow-origin': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    console.error(`agentgpu: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const { positionals, values } = parsed;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  switch (positionals[0]) {
    case 'info':
      return info(values.json === true, values.swiftshader === true);
    case 'generate':
    case 'chat': {
      const options = modelOptions(values);
      if (typeof options === 'string') {
        console.error(`agentgpu ${positionals[0]}: ${options}\n\n${usage}`);
        return 2;
      }
      if (positionals[0] === 'chat') return chatCommand(options, values.system);
      if (values.prompt === undefined) {
        console.error(`agentgpu generate: --prompt TEXT is required\n\n${usage}`);
        return 2;
      }
      return generateCommand(options, values.prompt, values.json === true);
    }
    case 'serve': {
      const options = modelOptions(values);
      if (typeof options === 'string') {
        console.error(`agentgpu serve: ${options}\n\n${usage}`);
        return 2;
      }
      const flags: Record<string, number | undefined> = {};
      const ranges = {
        port: { min: 0, max: 65535, integer: true },
        sequences: LOAD_RANGES.sequences,
        queue: { min: 1, max: 1 << 16, integer: true },
      } as const;
      for (const name of ['port', 'sequences', 'queue'] as const) {
        const n = numberFlag(values, name, ranges[name]);
        if (typeof n === 'string') {
          console.error(`agentgpu serve: ${n}\n\n${usage}`);
          return 2;
        }
        flags[name] = n;
      }
      return serveCommand(options, {
        port: flags.port ?? 8080,
        host: values.host ?? '127.0.0.1',
        apiKey: values['api-key'] ?? process.env.AGENTGPU_API_KEY,
        id: values.id,
        sequences: flags.sequences ?? 8,
        queueLimit: flags.queue ?? 64,
        allowedHosts: values['allowed-host'] ?? [],
        corsOrigins: values['allow-origin']?.includes('*') ? '*' : (values['allow-origin'] ?? []),
      });
    }
    case undefined:
      console.error(usage);
      return 2;
    default:
      console.error(`agentgpu: unknown command "${positionals[0]}"\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Our own errors say what to do; a stack trace would only bury that.
    if (error instanceof AgentGpuError) console.error(`agentgpu: ${error.message}`);
    else console.error(error);
    process.exit(1);
  },
);
