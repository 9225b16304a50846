import { resolve } from 'node:path';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

// The demo app (demo/): the assistant (index.html, an installable PWA), the kernel checks
// (kernels.html) and an empty page the e2e tests import modules into (blank.html). Served by
// `npm start` and by Playwright's e2e run. The npm module's own build is scripts/build.mjs.
export default defineConfig({
  root: 'demo',
  publicDir: '../public',
  server: {
    host: '127.0.0.1',
    port: Number(process.env.PORT ?? 5173),
    strictPort: true,
    // The demo imports ../src and ../shaders.
    fs: { allow: ['..'] },
  },
  preview: { host: '127.0.0.1', port: Number(process.env.PORT ?? 5173), strictPort: true },
  worker: { format: 'es' },
  // Pre-bundled up front so the first page load does not trigger a dependency re-optimization.
  // The embedding worker's (tokenizers, onnxruntime-web) too: found only once a test starts that
  // worker, they would make vite re-optimize and reload the page under the test.
  optimizeDeps: {
    include: ['comlink', 'idb', 'markdown-it', '@huggingface/tokenizers', 'onnxruntime-web'],
  },
  plugins: [
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: false,
      manifest: {
        name: 'agentgpu assistant',
        short_name: 'agentgpu',
        description: 'A team of small language-model agents on WebGPU, in your browser.',
        start_url: '/',
        display: 'standalone',
        background_color: '#f7f8fa',
        theme_color: '#1f3a5f',
        icons: [{ src: '/icon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }],
      },
      workbox: {
        // The app shell; models live in their own Cache Storage (the model manager), and
        // onnxruntime-web's wasm (memory embeddings, unused by the demo) is left out.
        globPatterns: ['**/*.{js,css,html,svg,json}'],
        globIgnores: ['**/ort*.js', 'models/**'],
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [/^\/models\//, /^\/kernels\.html/, /^\/blank\.html/],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
      },
    }),
  ],
  build: {
    outDir: '../dist-demo',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, 'demo/index.html'),
        kernels: resolve(import.meta.dirname, 'demo/kernels.html'),
        blank: resolve(import.meta.dirname, 'demo/blank.html'),
      },
    },
  },
});
