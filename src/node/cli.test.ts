import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

// The CLI as users run it: the built package's bin, in a child process.
const bin = fileURLToPath(new URL('../../bin/agentgpu.js', import.meta.url));
const built = fileURLToPath(new URL('../../dist/node/cli.js', import.meta.url));
const run = promisify(execFile);

async function agentgpu(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('agentgpu CLI', () => {
  beforeAll(() => {
    if (!existsSync(built))
      throw new Error('dist/ is missing: run `npm run build` before the CLI tests');
  });

  it('info --json prints the adapter, features, limits and a passing self-check', async () => {
    const { code, stdout } = await agentgpu(['info', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(typeof report.adapter.architecture).toBe('string');
    expect(report.adapter.features).toEqual({
      shaderF16: expect.any(Boolean),
      subgroups: expect.any(Boolean),
    });
    expect(report.adapter.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(report.adapter.limits.maxComputeWorkgroupStorageSize).toBeGreaterThan(0);
    expect(report.selfCheck).toMatchObject({
      kernel: 'matvec',
      passed: true,
      nonFinite: 0,
      guardViolations: 0,
    });
  });

  it('info prints a readable report', async () => {
    const { code, stdout } = await agentgpu(['info']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^adapter /m);
    expect(stdout).toMatch(/^subgroups +(yes|no)/m);
    expect(stdout).toMatch(/^self-check +matvec 256x1024 .* PASS$/m);
  });

  it('with no Vulkan driver at all, says what is missing in one message, no stack', async () => {
    const { code, stdout, stderr } = await agentgpu(['info', '--json'], {
      VK_ICD_FILENAMES: '/nonexistent/icd.json',
      AGENTGPU_SWIFTSHADER_ICD: '',
    });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const ours = stderr.split('\n').filter((line) => line.startsWith('agentgpu:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/no WebGPU adapter: .*Install your GPU's Vulkan driver/);
    expect(stderr).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
  });

  it('rejects an unknown command with usage', async () => {
    const { code, stderr } = await agentgpu(['frobnicate']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown command "frobnicate"/);
    expect(stderr).toMatch(/usage: agentgpu/);
  });
});
