// Runs a TypeScript entry (bench/*.ts) in Node: vite bundles it (SSR, Node target, packages
// external) into .cache/run-ts/, then it is imported with the remaining arguments.
//   node scripts/run-ts.mjs bench/kernels.ts --quick
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'vite';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs FILE.ts [args...]');
  process.exit(2);
}
const outDir = resolve('.cache/run-ts');
const name = basename(entry).replace(/\.ts$/, '');
await build({
  configFile: false,
  logLevel: 'warn',
  // An entry is code alone: the demo's public/ (models included) has no place beside it.
  publicDir: false,
  build: {
    outDir,
    emptyOutDir: false,
    ssr: true,
    target: 'node20',
    sourcemap: true,
    minify: false,
    rollupOptions: {
      input: { [name]: resolve(entry) },
      output: { format: 'es', entryFileNames: '[name].js' },
    },
  },
});
process.argv = [process.argv[0], entry, ...args];
await import(pathToFileURL(resolve(outDir, `${name}.js`)).href);
