import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelLoadError } from '../errors.js';
import { MemoryIndex } from './search.js';
import { OnnxEmbedder } from './onnx-embedder.js';
import { embedReference, tinyEmbedder } from './testing/tiny-embedder.js';

const tiny = tinyEmbedder();
const files: Record<string, Uint8Array | string> = {
  '/model.onnx': tiny.model,
  '/tokenizer.json': JSON.stringify(tiny.tokenizer),
  '/broken.json': '{"model": ',
  '/garbage.onnx': new TextEncoder().encode('this is not an onnx model'),
};
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);

describe('OnnxEmbedder (onnxruntime-web, wasm in Node)', () => {
  it('loads a sentence-embedding model by URL and matches the CPU reference', async () => {
    const embedder = await OnnxEmbedder.load({
      model: `${base}/model.onnx`,
      tokenizer: `${base}/tokenizer.json`,
    });
    try {
      expect(embedder.backend).toBe('wasm');
      expect(embedder.id).toBe(`${base}/model.onnx`);
      const texts = [
        'Remember this: my locker combination is 4812.',
        'the zebra',
        // Longer than the others: the batch is padded, and the padding must not count.
        'What is the weather like in the mountains this afternoon, and should I take a coat?',
        '',
      ];
      const vectors = await embedder.embed(texts);
      const tokenizer = new Tokenizer(tiny.tokenizer, {});
      expect(vectors).toHaveLength(texts.length);
      texts.forEach((text, i) => {
        const want = embedReference(tiny, tokenizer.encode(text).ids);
        expect(vectors[i]).toHaveLength(tiny.dim);
        const worst = Math.max(...vectors[i].map((v, j) => Math.abs(v - want[j])));
        expect(worst, text).toBeLessThan(1e-5);
      });
      // Each text alone gives the same vector as in the padded batch.
      const [alone] = await embedder.embed([texts[1]]);
      expect(cosine(alone, vectors[1])).toBeCloseTo(1, 5);
    } finally {
      embedder.close();
    }
  });

  it('truncates long texts to maxTokens and embeds in batches', async () => {
    const embedder = await OnnxEmbedder.load({
      model: tiny.model,
      tokenizer: tiny.tokenizer,
      maxTokens: 8,
      batchSize: 2,
      id: 'tiny',
    });
    try {
      const long = 'abcdefghijklmnopqrstuvwxyz';
      const tokenizer = new Tokenizer(tiny.tokenizer, {});
      const ids = tokenizer.encode(long).ids;
      const kept = [...ids.slice(0, 7), ids[ids.length - 1]];
      const vectors = await embedder.embed([long, 'a', 'b', 'c', 'd']);
      expect(vectors).toHaveLength(5);
      const want = embedReference(tiny, kept);
      expect(Math.max(...vectors[0].map((v, j) => Math.abs(v - want[j])))).toBeLessThan(1e-5);
    } finally {
      embedder.close();
    }
  });

  it('finds a misspelled word through the vectors where BM25 finds nothing', async () => {
    const embedder = await OnnxEmbedder.load({ model: tiny.model, tokenizer: tiny.tokenizer });
    try {
      const items = [
        'the zebra grazed by the river',
        'my locker combination is 4812',
        'trains leave at noon',
        'cooking pasta takes ten minutes',
      ];
      const index = new MemoryIndex();
      const vectors = await embedder.embed(items);
      items.forEach((text, i) => {
        index.add({ kind: 'fact', id: i, text, at: i });
        index.setVector('fact', i, vectors[i], embedder.id);
      });
      const [query] = await embedder.embed(['zebbra grazzing']);
      expect(index.search('zebbra grazzing', { k: 4 })).toHaveLength(0);
      const hits = index.search('zebbra grazzing', {
        k: 4,
        embedding: { model: embedder.id, vector: query },
      });
      expect(hits[0].text).toBe(items[0]);
      expect(hits[0].parts.vector).toBeGreaterThan(hits[1].parts.vector!);
      // Vectors of another model are never compared.
      expect(
        index.search('zebbra grazzing', { k: 4, embedding: { model: 'other', vector: query } }),
      ).toHaveLength(0);
    } finally {
      embedder.close();
    }
  });

  it('says what was wrong with a missing, broken or foreign model', async () => {
    await expect(
      OnnxEmbedder.load({ model: `${base}/missing.onnx`, tokenizer: tiny.tokenizer }),
    ).rejects.toThrow(/missing\.onnx answered 404/);
    await expect(
      OnnxEmbedder.load({ model: tiny.model, tokenizer: `${base}/broken.json` }),
    ).rejects.toThrow(/tokenizer\.json at .*broken\.json is not JSON/);
    const garbage = OnnxEmbedder.load({ model: `${base}/garbage.onnx`, tokenizer: tiny.tokenizer });
    await expect(garbage).rejects.toBeInstanceOf(ModelLoadError);
    await expect(garbage).rejects.toThrow(/no onnxruntime-web backend could run/);
  });
});
