#!/usr/bin/env node
// The `agentgpu` command: runs the built CLI (dist/node/cli.js).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/node/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('agentgpu: the CLI is not built yet: run `npm run build` in the agentgpu package');
  process.exit(1);
}
await import(cli.href);
