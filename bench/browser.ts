// A Chromium page for the peer benchmark: vite's dev server (the project's config, with the
// headers that make the page cross-origin isolated, so wasm engines get their threads) and
// Debian's chromium through Playwright, WebGPU on SwiftShader unless told the machine has a GPU.
// Files the page needs (models) are written under node_modules/.cache, which vite serves.
import { chromium, type Browser, type Page } from '@playwright/test';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { quiet, swiftShaderWebGpu } from '../playwright.config.js';
import type * as PageModule from './browser/page.js';

type PageApi = typeof PageModule;

export interface BenchPage {
  /** Calls `name` of bench/browser/page.ts in the page with `args`. */
  call<K extends keyof PageApi>(
    name: K,
    ...args: Parameters<PageApi[K]>
  ): Promise<Awaited<ReturnType<PageApi[K]>>>;
  /** Writes `bytes` where the page can fetch them; their URL. */
  serve(name: string, bytes: Uint8Array): string;
  /** The URL of a file of this checkout (a package's wasm). */
  urlOf(path: string): string;
  /** Chromium's WebGPU adapter, as the page sees it. */
  adapter: string;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
    server.on('error', reject);
  });
}

export async function openBenchPage(options: { swiftshader: boolean }): Promise<BenchPage> {
  const files = resolve('node_modules/.cache/agentgpu-bench');
  rmSync(files, { recursive: true, force: true });
  mkdirSync(files, { recursive: true });
  const port = await freePort();
  let vite: ViteDevServer | undefined;
  let browser: Browser | undefined;
  try {
    vite = await createServer({
      configFile: resolve('vite.config.ts'),
      logLevel: 'warn',
      server: {
        port,
        headers: {
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
        },
      },
      optimizeDeps: { include: ['@wllama/wllama'] },
    });
    await vite.listen();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        ...quiet,
        '--enable-precise-memory-info',
        ...(options.swiftshader
          ? swiftShaderWebGpu
          : ['--enable-unsafe-webgpu', '--enable-features=Vulkan']),
      ],
    });
    const page: Page = await browser.newPage();
    // BENCH_DEBUG=1: the engines' own logs, printed here.
    const debug = Boolean(process.env.BENCH_DEBUG);
    if (debug) page.on('console', (m) => console.log(`[page] ${m.text()}`));
    await page.goto(`http://127.0.0.1:${port}/blank.html${debug ? '?debug' : ''}`);
    const entry = `/@fs${resolve('bench/browser/page.ts')}`;
    const adapter = await page.evaluate(async () => {
      const adapter = await navigator.gpu?.requestAdapter();
      const info = adapter?.info;
      return info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : 'none';
    });
    const opened = { vite, browser };
    return {
      adapter,
      async call(name, ...args) {
        return page.evaluate(
          async ({ entry, name, args }) => {
            const api = (await import(entry)) as Record<string, (...a: unknown[]) => unknown>;
            return api[name](...args);
          },
          { entry, name, args: args as unknown[] },
        ) as never;
      },
      serve(name, bytes) {
        writeFileSync(join(files, name), bytes);
        return `/@fs${join(files, name)}`;
      },
      urlOf(path) {
        return `/@fs${resolve(path)}`;
      },
      async close() {
        await opened.browser.close();
        await opened.vite.close();
        rmSync(files, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await browser?.close();
    await vite?.close();
    throw error;
  }
}
