import { defineConfig } from 'vite';

// The demo app (demo/), served by `npm start` and by Playwright's e2e run. The npm module's
// own build is scripts/build.mjs.
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
  worker: { format: 'es' },
  // Pre-bundled up front so the first page load does not trigger a dependency re-optimization.
  optimizeDeps: { include: ['comlink'] },
  build: { outDir: '../dist-demo', emptyOutDir: true, target: 'es2022' },
});
