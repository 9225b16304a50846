import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShaderError } from '../errors.js';
import { tableShaderSource, type ShaderSource } from '../gpu/shader-library.js';

/** The package's shaders/ folder, found by walking up from this module (src/ or dist/). */
export function packageShaderDir(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'shaders');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) {
      throw new ShaderError(
        `cannot find agentgpu's shaders/ folder above ${from}: reinstall the package`,
      );
    }
  }
}

function walk(dir: string, root: string, table: Record<string, string>): void {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) walk(path, root, table);
    else if (entry.endsWith('.wgsl')) table[relative(root, path)] = readFileSync(path, 'utf8');
  }
}

/** Reads every .wgsl under the package's shaders/ once, at first use. */
export function fileShaderSource(dir = packageShaderDir()): ShaderSource {
  const table: Record<string, string> = {};
  walk(dir, dir, table);
  return tableShaderSource(table);
}
