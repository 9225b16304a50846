// Builds the npm module: the browser entry and its two workers (shaders inlined as text), the
// Node entries (index, cli, host-process; shaders read from the package's shaders/ at run time),
// and prints sizes. Type declarations come from `tsc -p tsconfig.build.json` (package.json
// "build").
//
// The browser files are made for the app's bundler, whichever it is (vite, webpack 5, rollup,
// esbuild all read this pattern):
// - index.js starts its workers with `new Worker(new URL('./worker.js', import.meta.url), …)`,
//   a relative literal naming a file that ships beside it, so the app's bundler finds the worker,
//   bundles it and rewrites the URL. The sources say `new URL('./index.ts', …)` (vite's dev
//   server runs them as they are): `workerUrls` below swaps in the shipped file's name.
// - each worker is one self-contained file (comlink, jinja, … inside): the app's bundler has
//   nothing to resolve in it, and vite's dev server can serve it as it stands.
// - onnxruntime-web stays a bare import of the embedding worker alone: its .wasm (tens of MB) is
//   the app's bundler's to emit, and only apps that load an embedder pull it in.
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

const root = resolve(import.meta.dirname, '..');

/** Worker sources by path under src/, and the file each ships as in dist/browser. */
const workers = {
  'worker/index.ts': 'worker.js',
  'memory/embedding-worker.ts': 'embedding-worker.js',
};

const nodeExternal = [
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  'webgpu',
  'comlink',
  'idb',
  'ajv',
  '@huggingface/jinja',
  '@huggingface/tokenizers',
  'onnxruntime-web',
];

/**
 * Rewrites `new URL('./x.ts', import.meta.url)` naming a worker source into the shipped name.
 * The literal is hidden from vite's own worker plugin (which would bundle the worker into an
 * asset with a site-root URL) behind a placeholder, and put back after bundling.
 */
function workerUrls() {
  const placeholder = (file) => `__agentgpu_worker_url__${file.replace(/\W/g, '_')}`;
  const placeholders = new Map();
  return {
    name: 'agentgpu:worker-urls',
    enforce: 'pre',
    transform(code, id) {
      if (!id.startsWith(join(root, 'src')) || !code.includes('import.meta.url')) return null;
      // Lines stay where they were (a few columns move): the source map stays usable as it is.
      const out = code.replace(
        /new URL\((['"])(\.{1,2}\/[^'"]+\.ts)\1, import\.meta\.url\)/g,
        (whole, _quote, spec) => {
          const source = relative(join(root, 'src'), resolve(id, '..', spec));
          const shipped = workers[source];
          if (!shipped) {
            this.error(`${id}: ${whole} names ${source}, which is not a worker the build ships`);
          }
          placeholders.set(placeholder(shipped), shipped);
          return `new URL(${placeholder(shipped)}, import.meta.url)`;
        },
      );
      return out === code ? null : { code: out, map: null };
    },
    renderChunk(code) {
      let out = code;
      for (const [name, shipped] of placeholders) {
        out = out.replaceAll(name, JSON.stringify(`./${shipped}`));
      }
      return out === code ? null : { code: out, map: null };
    },
  };
}

/** One browser file: `entry` (under src/) bundled into dist/browser/`file`. */
async function browserFile(entry, file, { external = [], empty = false } = {}) {
  await build({
    configFile: false,
    logLevel: 'warn',
    // The demo's public/ is not the module's.
    publicDir: false,
    plugins: [workerUrls()],
    build: {
      outDir: 'dist/browser',
      emptyOutDir: empty,
      target: 'es2022',
      sourcemap: true,
      minify: false,
      lib: { entry: { [file.replace(/\.js$/, '')]: `src/${entry}` }, formats: ['es'] },
      rollupOptions: { external, output: { codeSplitting: false } },
    },
  });
}

// The page's entry keeps its dependencies as imports, for the app's bundler to share with the
// app; the workers carry theirs.
await browserFile('index.ts', 'index.js', {
  external: ['comlink', 'idb', 'ajv', '@huggingface/jinja', '@huggingface/tokenizers'],
  empty: true,
});
for (const [entry, file] of Object.entries(workers)) {
  await browserFile(entry, file, { external: ['onnxruntime-web'] });
}

await build({
  configFile: false,
  logLevel: 'warn',
  publicDir: false,
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
      external: nodeExternal,
      // Chunks beside the entries: engine code finds host-process.js next to itself.
      output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
    },
  },
});

// TypeScript 6's DOM lib declares the WebGPU types, and @webgpu/types beside it conflicts (with
// skipLibCheck off); TypeScript 5's has none. The browser entry's types for TypeScript < 6
// (package.json's "types@<6" condition) bring @webgpu/types; TypeScript 6 gets the entry's own.
mkdirSync('dist/types/ts5', { recursive: true });
writeFileSync(
  'dist/types/ts5/index.d.ts',
  '/// <reference types="@webgpu/types" />\nexport * from \'../index.js\';\n',
);

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
