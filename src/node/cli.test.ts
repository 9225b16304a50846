import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGguf } from '../model/gguf/reader.js';
import { tinyModel } from '../model/testing/tiny-model.js';
import { tokenizerFromGguf } from '../model/tokenizer/index.js';

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
      packedIntegerDot: expect.any(Boolean),
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
    expect(stdout).toMatch(/^int8 dot +(yes|no)/m);
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

  describe('generate', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentgpu-cli-'));
    const { bytes } = tinyModel({ architecture: 'llama', weights: 'Q8_0', seed: 3 });
    const model = join(dir, 'tiny-llama.gguf');
    writeFileSync(model, bytes);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const prompt = 'The quick brown fox';
    /** A greedy completion of `prompt` as JSON, with `flags` beside. */
    const generate = (...flags: string[]) =>
      agentgpu([
        'generate',
        '--model',
        model,
        '--prompt',
        prompt,
        '--temperature',
        '0',
        ...flags,
        '--json',
      ]);

    it('--json prints the prompt tokens as llama.cpp tokenizes a completion, tokens, text and timings', async () => {
      const { code, stdout } = await generate('--max-tokens', '8');
      expect(code).toBe(0);
      const out = JSON.parse(stdout);
      const tokenizer = tokenizerFromGguf(parseGguf(bytes).metadata);
      expect(out.prompt_tokens).toEqual(tokenizer.encode(prompt));
      expect(out.prompt_tokens[0]).toBe(tokenizer.bos); // llama: BOS by the metadata
      expect(out.tokens.length).toBeGreaterThan(0);
      expect(out.tokens.length).toBeLessThanOrEqual(8);
      expect(out.text).toBe(tokenizer.decode(out.tokens));
      expect(out.timings).toMatchObject({
        prompt_tokens: out.prompt_tokens.length,
        prefill_tokens_per_second: expect.any(Number),
        decode_tokens_per_second: expect.any(Number),
        time_to_first_token_ms: expect.any(Number),
      });
    });

    it('--window runs past the cache in constant memory and reports the KV cache', async () => {
      const windowed = await generate('--max-tokens', '70', '--window', '32', '--sinks', '4');
      expect(windowed.code).toBe(0);
      const out = JSON.parse(windowed.stdout);
      // A sink block and two window blocks of 16 tokens, each 2 layers x K and V x 2 kv heads x 64
      // dims x 4 bytes a token.
      expect(out.kv).toMatchObject({ blocks: 3, blocks_used: 3, bytes_in_use: 3 * 16 * 2048 });
      const total = out.prompt_tokens.length + out.tokens.length - 1;
      expect(out.kv.evicted_tokens).toBe(total > 48 ? Math.ceil((total - 48) / 16) * 16 : 0);
      expect(out.tokens.length).toBe(70);
      const bad = await generate('--max-tokens', '70', '--sinks', '4');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--sinks goes with --window/);
    });

    it('--kv int8 stores the cache in a little over a quarter of the bytes', async () => {
      const int8 = await generate('--max-tokens', '70', '--window', '32', '--kv', 'int8');
      expect(int8.code).toBe(0);
      const out = JSON.parse(int8.stdout);
      // Per token: 2 layers x K and V x 2 kv heads x (64 int8 values + an f32 scale).
      expect(out.kv).toMatchObject({ format: 'int8', blocks: 3, bytes_in_use: 3 * 16 * 544 });
      expect(out.tokens.length).toBe(70);
      const bad = await generate('--kv', 'q4');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--kv takes f32, f16, int8, got "q4"/);
    });

    it('says which flag is wrong, and which file is missing', async () => {
      const bad = await agentgpu([
        'generate',
        '--model',
        model,
        '--prompt',
        'x',
        '--max-tokens',
        'ten',
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--max-tokens must be an integer, got "ten"/);
      // Values out of range, refused before the model loads, named as the flag.
      const outOfRange: [string[], RegExp][] = [
        [['--max-tokens', '0'], /--max-tokens must be between 1 and \d+, got 0/],
        [['--repeat-penalty', '0'], /--repeat-penalty must be above 0 and at most 10, got 0/],
        [['--top-p=-2'], /--top-p must be between 0 and 1, got -2/],
        [['--min-p', '7'], /--min-p must be between 0 and 1, got 7/],
        [['--top-k=-5'], /--top-k must be between 0 and \d+, got -5/],
        [['--temperature=-1'], /--temperature must be between 0 and 2, got -1/],
        [['--context-size', '1'], /--context-size must be between 16 and \d+, got 1/],
        [['--window', '64', '--sinks', '64'], /--sinks \(64\) must be fewer than --window \(64\)/],
      ];
      for (const [flags, message] of outOfRange) {
        const out = await agentgpu(['generate', '--model', model, '--prompt', 'x', ...flags]);
        expect([out.code, out.stderr], flags.join(' ')).toEqual([
          2,
          expect.stringMatching(message),
        ]);
      }
      const port = await agentgpu(['serve', '--model', model, '--port', '99999']);
      expect(port.code).toBe(2);
      expect(port.stderr).toMatch(/--port must be between 0 and 65535, got 99999/);
      const missing = await agentgpu([
        'generate',
        '--model',
        join(dir, 'nope.gguf'),
        '--prompt',
        'x',
      ]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^agentgpu: .*nope\.gguf/m);
      expect(missing.stderr).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
    });
  });
});
