import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../errors.js';
import { deserializeError } from '../../worker/transfer.js';
import { parseGguf, readGgufHeader } from '../gguf/reader.js';
import { tinyModel } from '../testing/tiny-model.js';
import { fileSource } from './blob.js';
import { openModelSource, pathSource } from './node.js';
import type { LoadProgress, ModelSource } from './source.js';
import { urlSource, type UrlSourceOptions } from './url.js';

// The loaders against a real HTTP server on 127.0.0.1 (node:http, Node's own fetch): one that
// serves Range requests properly, and ones that cut responses off, stall, ignore Range or fail.

const CHUNK = 64 << 10; // small chunks, so a few MB is many of them
const FAST: UrlSourceOptions = { chunkSize: CHUNK, cache: false, retryDelayMs: 2 };

interface Behaviour {
  /** Cut the connection half-way through the body of the first n responses. */
  truncateFirst?: number;
  /** Answer every request with this status and no file. */
  status?: number;
  /** Answer 200 with the whole file, whatever the Range header says. */
  ignoreRange?: boolean;
  /** Send half of each body, then nothing more (and never end it). */
  stall?: boolean;
  etag?: string;
}

interface TestServer {
  url: string;
  /** The Range header of every request, in order ('' when none). */
  requests: string[];
  bytes: Uint8Array;
  behaviour: Behaviour;
}

const servers: Server[] = [];
let dir: string;

async function serve(bytes: Uint8Array, behaviour: Behaviour = {}): Promise<TestServer> {
  const state: TestServer = { url: '', requests: [], bytes, behaviour };
  const server = createServer((request, response) => {
    const { bytes, behaviour } = state;
    const range = request.headers.range ?? '';
    state.requests.push(range);
    if (behaviour.status) {
      response.writeHead(behaviour.status).end('no');
      return;
    }
    const headers = behaviour.etag ? { ETag: behaviour.etag } : {};
    const match = /^bytes=(\d+)-(\d+)$/.exec(range);
    if (!match || behaviour.ignoreRange) {
      response.writeHead(200, { ...headers, 'Content-Length': bytes.length }).end(bytes);
      return;
    }
    const first = Number(match[1]);
    const last = Math.min(Number(match[2]), bytes.length - 1);
    if (first >= bytes.length) {
      response.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
      return;
    }
    const body = bytes.subarray(first, last + 1);
    response.writeHead(206, {
      ...headers,
      'Content-Range': `bytes ${first}-${last}/${bytes.length}`,
      'Content-Length': body.length,
    });
    const cut = behaviour.truncateFirst !== undefined && behaviour.truncateFirst > 0;
    if (cut) behaviour.truncateFirst!--;
    if (cut || behaviour.stall) {
      response.write(body.subarray(0, body.length >> 1), () => {
        if (cut) response.socket?.destroy();
      });
      return;
    }
    response.end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.gguf`;
  return state;
}

async function readAll(source: ModelSource, step = 100_000): Promise<Uint8Array> {
  const out = new Uint8Array(source.size);
  for (let at = 0; at < source.size; at += step) {
    out.set(await source.read(at, Math.min(step, source.size - at)), at);
  }
  return out;
}

const equal = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentgpu-loader-'));
});

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('urlSource', () => {
  const file = new Uint8Array(randomBytes(3 * CHUNK * 16 + 12345)); // ~3 MB, an odd size

  it('reads any range, across chunk boundaries, as the file has it', async () => {
    const server = await serve(file);
    const source = await urlSource(server.url, FAST);
    expect(source.size).toBe(file.length);
    const reads: [number, number][] = [
      [0, 0],
      [0, 1],
      [CHUNK - 1, 2], // straddles the first boundary
      [CHUNK, CHUNK], // exactly one chunk
      [5 * CHUNK - 7, 3 * CHUNK + 14], // spans four chunks
      [file.length - 1, 1],
      [file.length - 1000, 1000], // the short last chunk
    ];
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 0.999;
    for (let i = 0; i < 60; i++) {
      const offset = Math.floor(random() * file.length);
      reads.push([offset, Math.floor(random() * Math.min(300_000, file.length - offset))]);
    }
    for (const [offset, length] of reads) {
      const got = await source.read(offset, length);
      expect(got.length).toBe(length);
      expect(equal(got, file.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true);
    }
    // Concurrent reads of the same chunks share fetches and still get the right bytes.
    const together = await Promise.all(reads.slice(0, 12).map(([o, n]) => source.read(o, n)));
    together.forEach((got, i) => {
      const [o, n] = reads[i];
      expect(equal(got, file.subarray(o, o + n))).toBe(true);
    });
    await expect(source.read(file.length - 1, 2)).rejects.toThrow(RangeError);
    await source.close();
    await expect(source.read(0, 1)).rejects.toThrow(/closed/);
  });

  it('reports progress that only grows and reaches the total', async () => {
    const server = await serve(file);
    const seen: LoadProgress[] = [];
    const source = await urlSource(server.url, { ...FAST, onProgress: (p) => seen.push(p) });
    expect(equal(await readAll(source), file)).toBe(true);
    expect(seen.length).toBeGreaterThan(10);
    for (let i = 1; i < seen.length; i++)
      expect(seen[i].loaded).toBeGreaterThan(seen[i - 1].loaded);
    expect(seen.every((p) => p.total === file.length && p.from === 'network')).toBe(true);
    expect(seen.at(-1)!.loaded).toBe(file.length);
  });

  it('retries a cut-off response for the bytes still missing', async () => {
    const server = await serve(file, { truncateFirst: 3 });
    const source = await urlSource(server.url, { ...FAST, retries: 3 });
    expect(equal(await readAll(source), file)).toBe(true);
    // Each retry asks only for what had not arrived: the first chunk, then its remainders.
    expect(server.requests.slice(0, 4)).toEqual([
      `bytes=0-${CHUNK - 1}`,
      `bytes=${CHUNK / 2}-${CHUNK - 1}`,
      `bytes=${(3 * CHUNK) / 4}-${CHUNK - 1}`,
      `bytes=${(7 * CHUNK) / 8}-${CHUNK - 1}`,
    ]);
  });

  it('gives up on a server that always cuts off, with a clear error, in bounded time', async () => {
    const server = await serve(file, { truncateFirst: Infinity });
    const started = Date.now();
    const error = await urlSource(server.url, { ...FAST, retries: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).message).toMatch(/kept breaking off/);
    expect((error as ModelLoadError).message).toContain(server.url);
    expect((error as ModelLoadError).message).toContain(`bytes 0-${CHUNK - 1}`);
    expect((error as ModelLoadError).source).toBe(server.url);
    expect(server.requests.length).toBe(4);
    expect(Date.now() - started).toBeLessThan(3000);
  }, 5000);

  it('says a missing file is not found, and retries 5xx within the bound', async () => {
    const missing = await serve(file, { status: 404 });
    const notFound = await urlSource(missing.url, FAST).catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(ModelLoadError);
    expect(notFound).toMatchObject({ status: 404 });
    expect((notFound as Error).message).toContain(`no model file at ${missing.url}`);
    expect(missing.requests.length).toBe(1); // a 404 is not retried

    const failing = await serve(file, { status: 503 });
    const down = await urlSource(failing.url, { ...FAST, retries: 2 }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(ModelLoadError);
    expect(down).toMatchObject({ status: 503 });
    expect((down as Error).message).toMatch(/HTTP 503.*after 3 attempts/);
    expect(failing.requests.length).toBe(3);

    const denied = await serve(file, { status: 403 });
    await expect(urlSource(denied.url, FAST)).rejects.toThrow(/refused access.*token/);
  });

  it('refuses a server that ignores Range for a file larger than a chunk', async () => {
    const server = await serve(file, { ignoreRange: true });
    const error = await urlSource(server.url, FAST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/does not support Range requests/);
    // A file that fits one chunk is the whole answer to the first request: that works.
    const small = file.subarray(0, CHUNK - 3);
    const smallServer = await serve(small, { ignoreRange: true });
    const source = await urlSource(smallServer.url, FAST);
    expect(equal(await readAll(source), small)).toBe(true);
    expect(smallServer.requests.length).toBe(1);
  });

  it('stops on abort, before and during a download', async () => {
    const server = await serve(file, { stall: true });
    const early = new AbortController();
    early.abort();
    await expect(urlSource(server.url, { ...FAST, signal: early.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await expect(
      urlSource(server.url, { ...FAST, signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(2000);

    const healthy = await serve(file);
    const later = new AbortController();
    const source = await urlSource(healthy.url, { ...FAST, signal: later.signal });
    later.abort();
    await expect(source.read(CHUNK * 3, 10)).rejects.toMatchObject({ name: 'AbortError' });
  }, 5000);

  it('abandons a stalled response and fails clearly when it keeps stalling', async () => {
    const server = await serve(file, { stall: true });
    const options = { ...FAST, retries: 1, stallTimeoutMs: 100 };
    await expect(urlSource(server.url, options)).rejects.toThrow(/no bytes for 100 ms/);
    expect(server.requests.length).toBe(2);
  }, 5000);

  it('serves readGgufHeader a generated model', async () => {
    const { bytes } = tinyModel();
    const server = await serve(bytes);
    const source = await urlSource(server.url, { cache: false });
    const header = await readGgufHeader(source);
    const expected = parseGguf(bytes);
    expect(header.tensors).toEqual(expected.tensors);
    expect(header.dataOffset).toBe(expected.dataOffset);
    expect(header.metadata.get('general.architecture')).toBe('llama');
    const last = header.tensors.at(-1)!;
    const at = header.dataOffset + last.offset;
    const tensor = await source.read(at, last.byteSize);
    expect(equal(tensor, bytes.subarray(at, at + last.byteSize))).toBe(true);
  });
});

describe('the directory cache', () => {
  const file = new Uint8Array(randomBytes(20 * CHUNK + 999));

  it('makes a second load local, and never serves a partial entry', async () => {
    const server = await serve(file, { etag: '"v1"' });
    const cacheDir = join(dir, 'cache-second-load');
    const options = { chunkSize: CHUNK, cacheDir };
    const first = await openModelSource(server.url, options);
    expect(equal(await readAll(first), file)).toBe(true);
    expect(server.requests.length).toBe(21);

    server.requests.length = 0;
    const seen: LoadProgress[] = [];
    const second = await openModelSource(server.url, {
      ...options,
      onProgress: (p) => seen.push(p),
    });
    expect(second.size).toBe(file.length);
    expect(equal(await readAll(second), file)).toBe(true);
    expect(server.requests).toEqual([]);
    expect(seen.at(-1)).toEqual({ loaded: file.length, total: file.length, from: 'cache' });
    expect(seen.every((p) => p.from === 'cache')).toBe(true);

    // A chunk file cut short (as a crash mid-write would leave it, had it not been atomic) and a
    // leftover temp file: the short chunk is fetched again, the temp file is never read.
    const names = await readdir(cacheDir);
    expect(names.some((n) => n.endsWith('.tmp'))).toBe(false);
    const sizes = await Promise.all(names.map(async (n) => (await stat(join(cacheDir, n))).size));
    const victim = join(cacheDir, names[sizes.indexOf(CHUNK)]);
    await truncate(victim, CHUNK / 2);
    await writeFile(`${victim}.123-abc.tmp`, new Uint8Array(CHUNK));
    const third = await openModelSource(server.url, options);
    expect(equal(await readAll(third), file)).toBe(true);
    expect(server.requests.length).toBe(1);
  });

  it('notices a file that changed on the server and follows the new version', async () => {
    const server = await serve(file, { etag: '"v1"' });
    const options = { chunkSize: CHUNK, cacheDir: join(dir, 'cache-changed') };
    await (await openModelSource(server.url, options)).read(0, 10); // caches size and chunk 0
    server.bytes = new Uint8Array(randomBytes(file.length + 5));
    server.behaviour.etag = '"v2"';
    const stale = await openModelSource(server.url, options);
    await expect(stale.read(CHUNK * 5, 10)).rejects.toThrow(/changed on the server.*load it again/);
    const fresh = await openModelSource(server.url, options);
    expect(fresh.size).toBe(file.length + 5);
    expect(equal(await readAll(fresh), server.bytes)).toBe(true);
  });

  it('reports a cache that cannot be written once, and loads anyway', async () => {
    const server = await serve(file);
    const blocker = join(dir, 'not-a-directory');
    await writeFile(blocker, 'x');
    const errors: unknown[] = [];
    const source = await openModelSource(server.url, {
      chunkSize: CHUNK,
      cacheDir: join(blocker, 'cache'),
      onCacheError: (e) => errors.push(e),
    });
    expect(equal(await readAll(source), file)).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ENOTDIR' });
  });
});

describe('local sources', () => {
  const file = new Uint8Array(randomBytes(300_001));

  it('reads paths, file: URLs, Blobs and bytes', async () => {
    const path = join(dir, 'model.gguf');
    await writeFile(path, file);
    const sources = [
      await pathSource(path),
      await openModelSource(path),
      await openModelSource(pathToFileURL(path)),
      await openModelSource(pathToFileURL(path).href),
      await openModelSource(new Blob([file])),
      fileSource(new File([file], 'model.gguf')),
      await openModelSource(file),
    ];
    for (const source of sources) {
      expect(source.size).toBe(file.length);
      expect(equal(await readAll(source, 77_777), file)).toBe(true);
      expect(equal(await source.read(1234, 5), file.subarray(1234, 1239))).toBe(true);
      await source.close();
    }
  });

  it('names the path of a missing file or a directory', async () => {
    const missing = join(dir, 'nope.gguf');
    const error = await pathSource(missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain(`no model file at ${missing}`);
    await expect(openModelSource(dir)).rejects.toThrow(/not a file but a directory/);
  });

  it('keeps ModelLoadError across the worker boundary', () => {
    const error = deserializeError({
      name: 'ModelLoadError',
      message: 'no model file at x',
      fields: { source: 'x', status: 404 },
    });
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error).toMatchObject({ source: 'x', status: 404 });
  });
});
