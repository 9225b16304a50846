// Retrieval latency over 100,000 stored items: the items go into IndexedDB in Chromium (Debian's,
// headless) through MemoryStore, then the index is built once (timed) and 200 queries are
// timed: p50 and p95 of search() and of search + memoryPrompt().
//   node scripts/run-ts.mjs bench/memory-retrieval.ts [--items N] [--queries N]
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from '@playwright/test';
import { createServer } from 'vite';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '200' },
  },
});
const items = Number(values.items);
const queries = Number(values.queries);

const server = await createServer({
  root: resolve('demo'),
  logLevel: 'error',
  server: { port: 0 },
});
await server.listen();
const address = server.httpServer!.address();
const port = typeof address === 'object' && address ? address.port : 0;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--no-first-run', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  const result = await page.evaluate(
    async ({ entry, items, queries }) => {
      const { MemoryStore, memoryPrompt } = await import(entry);
      const name = `bench-${Date.now()}`;
      const store = await MemoryStore.open({ name });
      // A vocabulary of 5,000 words, Zipf-like: a few common, most rare.
      const vocab = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`);
      let seed = 1;
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const word = () => vocab[Math.floor(vocab.length * rand() ** 3)];
      const sentence = () => Array.from({ length: 8 + Math.floor(rand() * 16) }, word).join(' ');
      const t0 = performance.now();
      for (let i = 0; i < items; i += 1000) {
        const batch = Array.from({ length: Math.min(1000, items - i) }, () => ({
          role: 'user' as const,
          content: sentence(),
        }));
        await store.addMessages('bench', 's', batch);
      }
      const writeMs = performance.now() - t0;
      const t1 = performance.now();
      await store.search('bench', 'warm up');
      const buildMs = performance.now() - t1;
      const search: number[] = [];
      const withPrompt: number[] = [];
      for (let q = 0; q < queries; q++) {
        const query = Array.from({ length: 4 }, word).join(' ');
        const s0 = performance.now();
        const hits = await store.search('bench', query, { k: 8 });
        const s1 = performance.now();
        memoryPrompt(hits, 300, (t: string) => Math.ceil(t.length / 4));
        const s2 = performance.now();
        search.push(s1 - s0);
        withPrompt.push(s2 - s0);
      }
      store.close();
      await new Promise((r) => {
        const del = indexedDB.deleteDatabase(name);
        del.onsuccess = del.onerror = del.onblocked = r;
      });
      const pct = (xs: number[], p: number) =>
        [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)];
      return {
        items,
        queries,
        writeMs,
        buildMs,
        searchP50: pct(search, 0.5),
        searchP95: pct(search, 0.95),
        promptP50: pct(withPrompt, 0.5),
        promptP95: pct(withPrompt, 0.95),
      };
    },
    { entry: `/@fs${resolve('src/memory/index.ts')}`, items, queries },
  );
  console.log(`memory retrieval over ${result.items} items in IndexedDB (Chromium, headless):`);
  console.log(
    `  write            ${(result.writeMs / 1000).toFixed(1)} s (1,000 messages a transaction)`,
  );
  console.log(`  index build      ${result.buildMs.toFixed(0)} ms (first search of the agent)`);
  console.log(
    `  search           p50 ${result.searchP50.toFixed(2)} ms   p95 ${result.searchP95.toFixed(2)} ms`,
  );
  console.log(
    `  search + prompt  p50 ${result.promptP50.toFixed(2)} ms   p95 ${result.promptP95.toFixed(2)} ms`,
  );
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/memory-retrieval.json', JSON.stringify(result, null, 2));
} finally {
  await browser.close();
  await server.close();
}
