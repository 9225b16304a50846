import { expect, test, type Page } from '@playwright/test';
import { resolve } from 'node:path';
import type * as memory from '../src/memory/index.js';

// Long-term memory in Chromium's IndexedDB: what one page session stores, the next finds after
// a reload; writes past the storage quota fail whole with MemoryQuotaError and the store stays
// readable; two tabs see each other's writes; export, import and forget.

const entry = `/@fs${resolve('src/memory/index.ts')}`;
const errors = `/@fs${resolve('src/errors.ts')}`;

async function inPage<T, A>(page: Page, body: (m: typeof memory, arg: A) => Promise<T>, arg: A) {
  return page.evaluate(
    async ({ entry, source, arg }) => {
      const m = await import(entry);
      const fn = new Function(`return (${source})`)() as (m: unknown, arg: unknown) => Promise<T>;
      return fn(m, arg);
    },
    { entry, source: body.toString(), arg },
  );
}

test('facts stored in one page session are found after a reload and shape the next prompt', async ({
  page,
}) => {
  await page.goto('/blank.html');
  const db = `memory-reload-${Date.now()}`;
  await inPage(
    page,
    async (m, db) => {
      const store = await m.MemoryStore.open({ name: db });
      await store.addMessages('assistant', 'chat-1', [
        { role: 'user', content: 'Hi! I am planning a trip.' },
        { role: 'assistant', content: 'Where to?' },
      ]);
      await store.addFact('assistant', "The user's sister Maja lives in Lisbon.", { kind: 'user' });
      await store.addFact('assistant', 'The user is allergic to peanuts.', { kind: 'user' });
      for (let i = 0; i < 50; i++) {
        await store.addFact('assistant', `Unrelated note number ${i} about gardening.`, {
          kind: 'import',
        });
      }
      store.close();
    },
    db,
  );
  await page.reload();
  const out = await inPage(
    page,
    async (m, db) => {
      const store = await m.MemoryStore.open({ name: db });
      const hits = await store.search('assistant', 'Where does my sister live?', { k: 3 });
      const prompt = m.memoryPrompt(hits, 200, (t: string) => Math.ceil(t.length / 4));
      const episodes = await store.episodes('assistant');
      store.close();
      return { hits, prompt, episodes: episodes.length };
    },
    db,
  );
  expect(out.episodes).toBe(2);
  expect(out.hits[0].text).toBe("The user's sister Maja lives in Lisbon.");
  expect(out.prompt.text).toMatch(/^Relevant memory \(1 of 1 retrieved\):/);
  expect(out.prompt.text).toContain('matched "sister", "live"');
  expect(out.prompt.text).toContain("The user's sister Maja lives in Lisbon.");
  expect(out.prompt.included[0]).toMatchObject({ kind: 'fact' });
});

test('past the quota: MemoryQuotaError, nothing half-written, still readable', async ({ page }) => {
  await page.goto('/blank.html');
  const db = `memory-quota-${Date.now()}`;
  const out = await page.evaluate(
    async ({ entry, errors, db }) => {
      const m = (await import(entry)) as typeof memory;
      const { MemoryQuotaError } = await import(errors);
      // A memory capped at 256 KiB (a storage bucket's quota, enforced by the browser).
      const store = await m.MemoryStore.open({ name: db, quota: 256 * 1024 });
      await store.addMessages('a', 's', [{ role: 'user', content: 'before the quota' }]);
      // Random text: nothing for the browser's value compression to shrink.
      const text = (n: number) =>
        Array.from({ length: n }, () =>
          String.fromCharCode(97 + Math.floor(Math.random() * 26)),
        ).join('');
      let failure: unknown;
      let written = 0;
      try {
        // Episodes of 8 messages of 4 KiB until the quota stops them.
        for (let i = 0; i < 40; i++) {
          await store.addMessages(
            'a',
            's',
            Array.from({ length: 8 }, () => ({ role: 'user' as const, content: text(4096) })),
          );
          written++;
        }
      } catch (error) {
        failure = error;
      }
      const episodes = await store.episodes('a');
      let second: unknown;
      try {
        await store.addFact('a', 'a small fact', { kind: 'user' });
      } catch (error) {
        second = error;
      }
      const hits = await store.search('a', 'quota');
      store.close();
      return {
        written,
        isQuota: failure instanceof MemoryQuotaError,
        message: String((failure as Error)?.message),
        episodes: episodes.length,
        whole: episodes.every((e, i) => i === 0 || e.content.length === 4096),
        secondIsQuota: second instanceof MemoryQuotaError,
        secondMessage: String((second as Error)?.message),
        found: hits.map((h) => h.text),
      };
    },
    { entry, errors, db },
  );
  expect(out.isQuota, JSON.stringify(out)).toBe(true);
  expect(out.message).toMatch(/storage quota reached.*nothing of this write was kept/);
  // Whole episodes only: 1 + 8 per one that made it, and some did.
  expect(out.written).toBeGreaterThan(0);
  expect(out.episodes - 1).toBe(out.written * 8);
  expect(out.whole).toBe(true);
  // Read-only now: writes refused at once, reads work.
  expect(out.secondIsQuota).toBe(true);
  expect(out.secondMessage).toMatch(/read-only/);
  expect(out.found).toContain('before the quota');
});

test('two tabs, export and import, forget', async ({ page, context }) => {
  await page.goto('/blank.html');
  const other = await context.newPage();
  await other.goto('/blank.html');
  const db = `memory-tabs-${Date.now()}`;
  // Tab 2 builds its index, then tab 1 writes: tab 2's next search sees the write.
  await inPage(
    other,
    async (m, db) => {
      const w = window as unknown as { store: memory.MemoryStore };
      w.store = await m.MemoryStore.open({ name: db });
      await w.store.search('a', 'anything');
    },
    db,
  );
  await inPage(
    page,
    async (m, db) => {
      const store = await m.MemoryStore.open({ name: db });
      await store.addFact('a', 'The launch code is tangerine.', { kind: 'user' });
      store.close();
    },
    db,
  );
  const seen = await other.evaluate(async () => {
    const w = window as unknown as { store: memory.MemoryStore };
    for (let i = 0; i < 50; i++) {
      const hits = await w.store.search('a', 'launch code');
      if (hits.length > 0) return hits[0].text;
      await new Promise((r) => setTimeout(r, 20));
    }
    return 'not seen';
  });
  expect(seen).toBe('The launch code is tangerine.');

  const out = await inPage(
    page,
    async (m, db) => {
      const store = await m.MemoryStore.open({ name: db });
      await store.addMessages('a', 's', [
        { role: 'user', content: 'old message' },
        { role: 'assistant', content: 'old reply' },
      ]);
      const exported = JSON.parse(JSON.stringify(await store.export('a')));
      await store.import(exported, 'b');
      const copied = {
        facts: (await store.facts('b')).map((f) => f.text),
        episodes: (await store.episodes('b')).length,
      };
      let bad = '';
      try {
        await store.import({ format: 'nope' } as never);
      } catch (error) {
        bad = (error as Error).message;
      }
      const forgotten = await store.forget({ agent: 'a', items: [{ kind: 'episode', id: 1 }] });
      const afterItem = (await store.episodes('a')).length;
      await store.forget({ agent: 'b' });
      const agents = (await store.agents()).map((x) => x.name);
      const bLeft = (await store.episodes('b')).length + (await store.facts('b')).length;
      store.close();
      return { copied, bad, forgotten, afterItem, agents, bLeft };
    },
    db,
  );
  expect(out.copied).toEqual({ facts: ['The launch code is tangerine.'], episodes: 2 });
  expect(out.bad).toMatch(/not an agentgpu memory export/);
  expect(out.forgotten).toBe(1);
  expect(out.afterItem).toBe(1);
  expect(out.agents).toEqual(['a']);
  expect(out.bLeft).toBe(0);
});
