// Builds the npm module: the browser entries (index, worker; shaders inlined as text), the Node
// entries (index, cli; shaders read from the package's shaders/ at run time), and prints sizes.
// Type declarations come from `tsc -p tsconfig.build.json` (see package.json "build").
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

const external = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  'webgpu',
  'comlink',
  'idb',
  'onnxruntime-web',
];

await build({
  configFile: false,
  logLevel: 'warn',
  // Workers keep the same externals: onnxruntime-web (tens of MB with its wasm) is the app's to
  // bundle or serve, not ours to copy.
  worker: { format: 'es', rollupOptions: { external } },
  build: {
    outDir: 'dist/browser',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    minify: false,
    lib: {
      entry: { index: 'src/index.ts', worker: 'src/worker/index.ts' },
      formats: ['es'],
    },
    rollupOptions: { external },
  },
});

await build({
  configFile: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist/node',
    emptyOutDir: true,
    target: 'node20',
    ssr: true,
    sourcemap: true,
    minify: false,
    rollupOptions: {
      input: {
        index: 'src/node/index.ts',
        cli: 'src/node/cli.ts',
        'host-process': 'src/node/host-process.ts',
      },
      external,
      // Chunks beside the entries: engine code finds host-process.js next to itself.
      output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
    },
  },
});

function report(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) report(path);
    else if (name.endsWith('.js')) {
      const bytes = readFileSync(path);
      const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
      console.log(
        `  ${path.padEnd(44)} ${kib(bytes.length).padStart(10)}  gzip ${kib(gzipSync(bytes).length)}`,
      );
    }
  }
}
console.log('agentgpu bundle sizes:');
report('dist/browser');
report('dist/node');
