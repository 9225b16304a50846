import { defineConfig } from '@playwright/test';

// Debian's chromium, never a downloaded browser. WebGPU runs on SwiftShader (CPU Vulkan).
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const port = Number(process.env.E2E_PORT ?? 4173);
/** The built demo (vite preview), for the PWA tests. */
export const demoPort = port + 1;

// Flags that keep a headless chromium from reaching for the network at every start.
export const quiet = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
export const swiftShaderWebGpu = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-vulkan-surface',
];

export default defineConfig({
  testDir: 'e2e',
  // The kernel checks run ~500 cases on SwiftShader in one page: minutes, not seconds.
  timeout: 360_000,
  fullyParallel: false,
  workers: 1,
  reporter: [['list']],
  use: { baseURL: `http://127.0.0.1:${port}` },
  webServer: [
    {
      // The dev server: the tests import agentgpu's sources into its pages.
      command: `npx vite --port ${port}`,
      url: `http://127.0.0.1:${port}/blank.html`,
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
    },
    {
      // The demo as `npm start` serves it: built, with its service worker.
      command: `node scripts/run-ts.mjs scripts/demo-model.ts && npx vite build --logLevel warn && npx vite preview --port ${demoPort}`,
      url: `http://127.0.0.1:${demoPort}/`,
      reuseExistingServer: !process.env.CI,
      timeout: 240_000,
    },
  ],
  projects: [
    {
      name: 'webgpu-swiftshader',
      testIgnore: /no-webgpu/,
      use: { launchOptions: { executablePath: chromium, args: [...quiet, ...swiftShaderWebGpu] } },
    },
    {
      // Plain headless chromium on a machine without a GPU: navigator.gpu exists, no adapter.
      name: 'no-webgpu-adapter',
      testMatch: /no-webgpu/,
      use: { launchOptions: { executablePath: chromium, args: [...quiet, '--disable-gpu'] } },
    },
  ],
});
