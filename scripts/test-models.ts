// Writes the small seeded GGUF models the tests use: every architecture × weight format, with a
// byte-level BPE vocabulary. Generated, never committed.
//   node scripts/run-ts.mjs scripts/test-models.ts [--out DIR] [--seed N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { quantFormats, type QuantName } from '../src/quant/index.js';
import { tinyModel, type TinyArchitecture } from '../src/model/testing/tiny-model.js';
import { tinyEmbedder } from '../src/memory/testing/tiny-embedder.js';

const { values } = parseArgs({
  options: { out: { type: 'string', default: 'dist-test/models' }, seed: { type: 'string' } },
});
const out = values.out!;
const seed = Number(values.seed ?? 1);
mkdirSync(out, { recursive: true });
for (const architecture of ['llama', 'qwen2', 'qwen3'] as TinyArchitecture[]) {
  for (const weights of Object.keys(quantFormats) as QuantName[]) {
    const { bytes } = tinyModel({ architecture, weights, seed });
    const file = join(out, `tiny-${architecture}-${weights.toLowerCase()}.gguf`);
    writeFileSync(file, bytes);
    console.log(`${file} (${bytes.length} bytes)`);
  }
}
// A sentence-embedding ONNX model and its tokenizer.json (memory retrieval's embedder).
const embedder = tinyEmbedder({ seed });
writeFileSync(join(out, 'tiny-embedder.onnx'), embedder.model);
writeFileSync(join(out, 'tiny-embedder.tokenizer.json'), JSON.stringify(embedder.tokenizer));
console.log(`${join(out, 'tiny-embedder.onnx')} (${embedder.model.length} bytes)`);
