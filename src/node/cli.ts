#!/usr/bin/env node
// The agentgpu command line. `agentgpu info [--json]` for now; generate/serve come with the model runtime.
import { parseArgs } from 'node:util';
import { AgentGpuError } from '../errors.js';
import { formatBytes, limitNames, type GpuFacts } from '../gpu/facts.js';
import { checkMatvec, type KernelCheckResult } from '../kernels/checks.js';
import { acquireNodeGpu } from './gpu.js';

const usage = `usage: agentgpu <command> [options]

commands:
  info [--json]   the WebGPU adapter (vendor, architecture, f16, subgroups, limits)
                  and a matvec self-check against the CPU reference

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

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        swiftshader: { type: 'boolean' },
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
