import { expect, test, type Page } from '@playwright/test';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

// agentgpu as its users get it: `npm pack`, the tarball installed into a fresh app (e2e/consumer,
// copied to a temporary directory with nothing of this repository's node_modules above it), the
// app built by vite (dev server and production build) and by webpack 5, and run in Chromium on
// SwiftShader; then a Node app on 'agentgpu/node' and 'agentgpu'. The app's code is the README's
// "Install in your app": a model by relative URL with load progress, a streamed chat
// completion, an error from the worker caught by class, and an embedder.

const run = promisify(execFile);
const MODELS = 'dist-test/models';
const PORT = Number(process.env.E2E_PORT ?? 4173) + 10;

test.describe.configure({ mode: 'serial' });

let work: string;
let app: string;
let tarball: string;
const servers: ChildProcess[] = [];

/** Runs `npm …` in the app, failing with its output. */
async function npm(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    return await run('npm', args, {
      cwd: app,
      env: { ...process.env, ...env },
      maxBuffer: 64 << 20,
    });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm ${args.join(' ')} failed:\n${stdout}\n${stderr}`, { cause: error });
  }
}

/** Starts `npx <command>` in the app and waits until `url` answers. */
async function serve(command: string[], url: string): Promise<void> {
  const child = spawn('npx', command, { cwd: app, detached: true, stdio: 'ignore' });
  servers.push(child);
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    if (child.exitCode !== null) throw new Error(`npx ${command.join(' ')} exited`);
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`npx ${command.join(' ')} did not answer at ${url}`);
}

function stopServers() {
  for (const child of servers.splice(0)) {
    if (child.pid && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
  }
}

interface Progress {
  model: string;
  phase: 'download' | 'cache' | 'upload' | 'compile';
  loaded: number;
  total: number;
  text: string;
}

interface Report {
  failure?: string;
  progress: Progress[];
  text: string;
  chunks: number;
  error: { name: string; message: string; isGgufError: boolean; isAgentGpuError: boolean };
  embedding: { backend: string; dims: number; norm: number };
  missing: string[];
}

/** Opens the app and checks everything it did, as the user would see it. */
async function checkApp(page: Page, url: string) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    // onnxruntime logs its node placement warnings through console.error.
    if (m.type() === 'error' && !m.text().includes('onnxruntime')) errors.push(m.text());
  });
  await page.goto(url);
  await page.waitForFunction(() => 'consumer' in window, null, { timeout: 240_000 });
  const report = (await page.evaluate(() => (window as { consumer?: unknown }).consumer)) as Report;
  expect(report.failure).toBeUndefined();

  // Progress: the file's bytes, then the weights' upload, then each kernel; each phase's count
  // only grows and ends at its total.
  const phases = report.progress.map((p) => p.phase);
  expect(phases[0]).toBe('download');
  expect(phases.at(-1)).toBe('compile');
  expect(phases.lastIndexOf('download')).toBeLessThan(phases.indexOf('upload'));
  expect(phases.lastIndexOf('upload')).toBeLessThan(phases.indexOf('compile'));
  for (const phase of ['download', 'upload', 'compile']) {
    const reports = report.progress.filter((p) => p.phase === phase);
    for (let i = 1; i < reports.length; i++) {
      expect(reports[i].loaded).toBeGreaterThanOrEqual(reports[i - 1].loaded);
    }
    expect(reports.at(-1)!.loaded).toBe(reports.at(-1)!.total);
  }
  expect(report.progress.every((p) => p.model === 'tiny' && p.text.startsWith('tiny: '))).toBe(
    true,
  );
  expect(report.progress.at(-1)!.text).toMatch(/^tiny: compiling kernels (\d+) of \1$/);

  expect(report.chunks).toBeGreaterThan(2); // streamed: a role chunk, tokens, the finish
  expect(report.text.length).toBeGreaterThan(0);
  // Thrown in the worker, minified by the production builds, caught by class in the page.
  expect(report.error).toEqual({
    name: 'GgufError',
    message: expect.stringContaining('not a GGUF file'),
    isGgufError: true,
    isAgentGpuError: true,
  });
  expect(report.embedding.dims).toBe(32);
  expect(report.embedding.norm).toBeCloseTo(1, 5);
  expect(report.missing).toEqual([]);
  expect(errors).toEqual([]);
}

test.beforeAll(async () => {
  test.setTimeout(300_000);
  execFileSync(process.execPath, ['scripts/run-ts.mjs', 'scripts/test-models.ts'], {
    stdio: 'ignore',
  });
  work = mkdtempSync(join(tmpdir(), 'agentgpu-consumer-'));
  // The tarball of the build `npm test` made just before (dist/ is what ships).
  const packed = execFileSync('npm', ['pack', '--json', '--pack-destination', work]).toString();
  tarball = join(work, (JSON.parse(packed) as { filename: string }[])[0].filename);
  app = join(work, 'app');
  cpSync('e2e/consumer', app, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
  manifest.dependencies.agentgpu = `file:${tarball}`;
  writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
  const models = join(app, 'public/models');
  cpSync(resolve(MODELS, 'tiny-qwen2-q8_0.gguf'), join(models, 'tiny.gguf'));
  cpSync(resolve(MODELS, 'tiny-embedder.onnx'), join(models, 'embedder.onnx'));
  cpSync(resolve(MODELS, 'tiny-embedder.tokenizer.json'), join(models, 'embedder.tokenizer.json'));
  writeFileSync(join(models, 'not-a-model.gguf'), 'this is not a model\n');
  // The npm cache already holds what the repository installed: no network beyond the registry.
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline']);
});

test.afterAll(() => {
  stopServers();
  if (work) rmSync(work, { recursive: true, force: true });
});

test.afterEach(stopServers);

test('the tarball holds the package alone, and a browser app installs no Dawn', async () => {
  const [pack] = JSON.parse(
    execFileSync('npm', ['pack', '--dry-run', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim(),
  ) as { size: number; unpackedSize: number; files: { path: string }[] }[];
  const strays = pack.files
    .map((f) => f.path)
    .filter(
      (p) =>
        !/^(dist|shaders|bin)\//.test(p) && !['README.md', 'LICENSE', 'package.json'].includes(p),
    );
  expect(strays).toEqual([]);
  expect(pack.files.some((f) => /\.(gguf|onnx)$|models\.json$|icon\.svg$/.test(f.path))).toBe(
    false,
  );
  const size = `${pack.files.length} files, ${(pack.size / 2 ** 20).toFixed(2)} MiB packed, ${(pack.unpackedSize / 2 ** 20).toFixed(2)} MiB unpacked`;
  test.info().annotations.push({ type: 'npm pack', description: size });
  console.log(`agentgpu tarball: ${size}`);
  // The workers are whole files (served as they are, they run): imports of nothing but
  // onnxruntime-web, which the embedding worker leaves to the app's bundler.
  const shipped = join(app, 'node_modules/agentgpu/dist/browser');
  const imports = (file: string) => {
    const code = readFileSync(join(shipped, file), 'utf8');
    const statics = code.matchAll(/^import\b[^'"]*['"]([^'"]+)['"]/gm);
    const dynamics = code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g);
    return [...statics, ...dynamics].map((m) => m[1]);
  };
  expect(imports('worker.js')).toEqual([]);
  expect(new Set(imports('embedding-worker.js'))).toEqual(new Set(['onnxruntime-web']));
  expect(imports('index.js')).not.toContain('onnxruntime-web');
  expect(existsSync(join(app, 'node_modules/webgpu'))).toBe(false);
});

test('the types check under TypeScript 6 and 5, strict, without skipLibCheck', async () => {
  // TypeScript 6's DOM lib has the WebGPU types; 5's does not, and the package brings them.
  await npm(['exec', '--', 'tsc', '-p', '.']);
  await npm(['run', 'typecheck:ts5']);
});

test("vite's dev server serves the app", async ({ page }) => {
  test.setTimeout(300_000);
  const url = `http://127.0.0.1:${PORT}/`;
  await serve(['vite', '--host', '127.0.0.1', '--port', String(PORT), '--strictPort'], url);
  await checkApp(page, url);
});

test("vite's production build (tsc, then vite build) runs", async ({ page }) => {
  test.setTimeout(300_000);
  await npm(['run', 'build']);
  const url = `http://127.0.0.1:${PORT + 1}/`;
  await serve(['vite', 'preview', '--host', '127.0.0.1', '--port', String(PORT + 1)], url);
  await checkApp(page, url);
});

test("webpack 5's production build runs", async ({ page }) => {
  test.setTimeout(300_000);
  await npm(['run', 'build:webpack']);
  const url = `http://127.0.0.1:${PORT + 2}/`;
  // A static server for the built files (vite's preview serves any directory).
  const preview = ['vite', 'preview', '--outDir', 'dist-webpack', '--host', '127.0.0.1'];
  await serve([...preview, '--port', String(PORT + 2)], url);
  await checkApp(page, url);
});

test("Node gets the Node build from 'agentgpu' and 'agentgpu/node'", async () => {
  test.setTimeout(300_000);
  const model = join(app, 'public/models/tiny.gguf');
  const node = async () => {
    const { stdout } = await npm(['run', '--silent', 'node', '--', model]);
    return JSON.parse(stdout.trim().split('\n').at(-1)!);
  };
  // Without Dawn installed: the error says what to install.
  expect(await node()).toEqual({
    sameBuild: true,
    error: {
      name: 'WebGpuUnavailableError',
      message: expect.stringContaining('npm install webgpu'),
      unavailable: true,
    },
  });
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', 'webgpu@^0.6.2']);
  expect(await node()).toEqual({ sameBuild: true, text: expect.any(String) });
});
