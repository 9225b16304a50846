// The layer rule (run by `npm run lint`): every module of src/ imports only from its own layer
// or the layers below it, and runtime code never imports the test oracles in reference/.
//
//   errors, util → gpu → quant → kernels → kv → model → testing → worker → memory → api →
//   offload → coordinator → runtime.ts (the runtime's public API) → node → index.ts
//
// A file's layer is its folder under src/ (src/model/chat/x.ts is in model). Tests (*.test.ts)
// may import anything. Files in a testing/, reference/ or checks/ folder (the kernel checks,
// shipped for the CLI, the e2e worker and the demo) may import the oracles.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const ORDER = [
  'errors',
  'util',
  'gpu',
  'quant',
  'kernels',
  'kv',
  'model',
  'testing',
  'worker',
  'memory',
  'api',
  'offload',
  'coordinator',
  'runtime',
  'node',
  'entry',
];

function layerOf(file) {
  const parts = relative(root, file).split(sep);
  if (parts.length > 1) return parts[0];
  const name = parts[0].replace(/\.js$/, '.ts');
  return name === 'errors.ts' ? 'errors' : name === 'runtime.ts' ? 'runtime' : 'entry';
}

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) yield path;
  }
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
const problems = [];
for (const file of sources(root)) {
  const layer = layerOf(file);
  if (!ORDER.includes(layer)) {
    problems.push(`${relative(root, file)}: src/${layer}/ has no place in the layer order`);
    continue;
  }
  const path = relative(root, file).split(sep);
  const mayUseOracles =
    path.includes('testing') || path.includes('reference') || path.includes('checks');
  for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const spec = match[1] ?? match[2];
    const target = resolve(dirname(file), spec);
    if (!target.startsWith(root + sep)) continue;
    const to = layerOf(target);
    const where = `${relative(root, file)} imports ${spec}`;
    if (ORDER.indexOf(to) > ORDER.indexOf(layer)) {
      problems.push(`${where}: ${layer} may not import from ${to}, a layer above it`);
    }
    if (!mayUseOracles && relative(root, target).split(sep).includes('reference')) {
      problems.push(`${where}: runtime code may not import the test oracles in reference/`);
    }
  }
}
if (problems.length > 0) {
  console.error(
    `Layer rule: ${problems.length} import(s) out of order\n  ${problems.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`Layer rule: every import in src/ points down (${ORDER.join(' → ')})`);
