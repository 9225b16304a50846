// Writes the demo's generated model (public/models/generated.gguf): the assistant's offline
// fallback, a small seeded qwen2 with a chat template. Its output is noise, and the app says so.
//   node scripts/run-ts.mjs scripts/demo-model.ts
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tinyModel } from '../src/model/testing/tiny-model.js';

const out = 'public/models/generated.gguf';
if (!existsSync(out)) {
  mkdirSync('public/models', { recursive: true });
  const { bytes } = tinyModel({
    architecture: 'qwen2',
    weights: 'Q8_0',
    layers: 2,
    seed: 7,
    contextLength: 2048,
  });
  writeFileSync(out, bytes);
  console.log(`${out} (${bytes.length} bytes)`);
}
