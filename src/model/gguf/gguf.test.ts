import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GgufError } from '../../errors.js';
import { Rng } from '../../util/rng.js';
import { Q4_K, Q8_0 } from '../../quant/index.js';
import { parseGguf, readGgufHeader, type ByteSource } from './reader.js';
import { writeGguf, type GgufWriteTensor, type GgufWriteValue } from './writer.js';

const rng = new Rng(3);
const tensors: GgufWriteTensor[] = [
  {
    name: 'token_embd.weight',
    dims: [64, 10],
    type: 0,
    data: new Uint8Array(new Float32Array(640).map(() => rng.next()).buffer),
  },
  { name: 'blk.0.attn_q.weight', dims: [256, 3], type: 12, data: Q4_K.quantize(rng.floats(768)) },
  { name: 'blk.0.ffn_up.weight', dims: [32, 5], type: 8, data: Q8_0.quantize(rng.floats(160)) },
  { name: 'output_norm.weight', dims: [7], type: 0, data: new Uint8Array(28) },
];
const metadata: Record<string, GgufWriteValue> = {
  'general.architecture': { type: 'string', value: 'llama' },
  'general.name': { type: 'string', value: 'tiny ünïcode 🦙' },
  'llama.context_length': { type: 'u32', value: 2048 },
  'llama.rope.freq_base': { type: 'f32', value: 10000 },
  'test.i8': { type: 'i8', value: -5 },
  'test.u16': { type: 'u16', value: 65535 },
  'test.i64': { type: 'i64', value: -(2n ** 60n) },
  'test.u64': { type: 'u64', value: 12345 },
  'test.f64': { type: 'f64', value: Math.PI },
  'test.bool': { type: 'bool', value: true },
  'tokenizer.ggml.tokens': {
    type: 'array',
    of: 'string',
    value: ['<s>', '</s>', 'a', 'ab', ' ', 'é'],
  },
  'tokenizer.ggml.scores': { type: 'array', of: 'f32', value: [0, 0, -1, -2, -3, -4] },
  'tokenizer.ggml.token_type': { type: 'array', of: 'i32', value: [3, 3, 1, 1, 1, 1] },
};
const valid = writeGguf(metadata, tensors);

/** `valid` with its bytes at `at` replaced by `bytes`. */
function patched(at: number, bytes: number[] | Uint8Array): Uint8Array {
  const copy = valid.slice();
  copy.set(bytes, at);
  return copy;
}

function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

/** Byte offset just after the first occurrence of `text` (as UTF-8) in `valid`. */
function after(text: string): number {
  const needle = new TextEncoder().encode(text);
  for (let i = 0; i + needle.length <= valid.length; i++) {
    if (needle.every((b, j) => valid[i + j] === b)) return i + needle.length;
  }
  throw new Error(`"${text}" not in the file`);
}

function rejects(bytes: Uint8Array, field: RegExp, problem: RegExp): void {
  let error: unknown;
  try {
    parseGguf(bytes);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(GgufError);
  expect((error as GgufError).field).toMatch(field);
  expect((error as GgufError).message).toMatch(problem);
}

describe('GGUF reader and writer', () => {
  it('round-trips metadata of every type and tensor infos, with aligned data', () => {
    const file = parseGguf(valid);
    expect(file.version).toBe(3);
    expect(file.alignment).toBe(32);
    expect(file.dataOffset % 32).toBe(0);
    expect(file.metadata.get('general.name')).toBe('tiny ünïcode 🦙');
    expect(file.metadata.get('llama.context_length')).toBe(2048);
    expect(file.metadata.get('test.i8')).toBe(-5);
    expect(file.metadata.get('test.u16')).toBe(65535);
    expect(file.metadata.get('test.i64')).toBe(-(2n ** 60n));
    expect(file.metadata.get('test.u64')).toBe(12345);
    expect(file.metadata.get('test.f64')).toBe(Math.PI);
    expect(file.metadata.get('test.bool')).toBe(true);
    expect(file.metadata.get('tokenizer.ggml.tokens')).toEqual([
      '<s>',
      '</s>',
      'a',
      'ab',
      ' ',
      'é',
    ]);
    expect(file.metadata.get('tokenizer.ggml.scores')).toEqual(
      new Float32Array([0, 0, -1, -2, -3, -4]),
    );
    expect(file.metadata.get('tokenizer.ggml.token_type')).toEqual(
      new Int32Array([3, 3, 1, 1, 1, 1]),
    );
    expect(file.tensors.map((t) => [t.name, t.dims, t.typeName, t.byteSize])).toEqual([
      ['token_embd.weight', [64, 10], 'F32', 2560],
      ['blk.0.attn_q.weight', [256, 3], 'Q4_K', 3 * 144],
      ['blk.0.ffn_up.weight', [32, 5], 'Q8_0', 5 * 34],
      ['output_norm.weight', [7], 'F32', 28],
    ]);
    for (const [i, t] of file.tensors.entries()) {
      expect(t.offset % 32).toBe(0);
      const at = file.dataOffset + t.offset;
      expect(valid.subarray(at, at + t.byteSize)).toEqual(tensors[i].data);
    }
  });

  it("is read the same by node-llama-cpp's GGUF parser", async () => {
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const dir = mkdtempSync(join(tmpdir(), 'agentgpu-gguf-'));
    try {
      const path = join(dir, 'tiny.gguf');
      writeFileSync(path, valid);
      const info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false });
      expect(info.version).toBe(3);
      const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
      expect(meta.general.name).toBe('tiny ünïcode 🦙');
      expect(meta.llama.context_length).toBe(2048);
      const theirs = (info.fullTensorInfo ?? []).map((t) => [
        t.name,
        t.dimensions.map(Number),
        Number(t.offset),
      ]);
      const ours = parseGguf(valid).tensors.map((t) => [t.name, t.dims, t.offset]);
      expect(theirs).toEqual(ours);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a header larger than the first read through more reads', async () => {
    const reads: [number, number][] = [];
    const source: ByteSource = {
      size: valid.length,
      read: async (offset, length) => {
        reads.push([offset, length]);
        return valid.slice(offset, offset + length);
      },
    };
    const file = await readGgufHeader(source, 64);
    expect(file.tensors).toHaveLength(4);
    expect(reads.length).toBeGreaterThan(1);
    expect(reads.every(([offset, length]) => offset === 0 && length <= valid.length)).toBe(true);
  });
});

describe('malformed GGUF files', () => {
  const tensorCountAt = 8;
  const kvCountAt = 16;

  it('rejects files that are not GGUF, big-endian or of another version', () => {
    rejects(patched(0, [0x50, 0x4b, 3, 4]), /magic/, /not a GGUF file/);
    rejects(patched(4, [0, 0, 0, 3]), /version/, /big-endian/);
    rejects(patched(4, u32(1)), /version/, /version 1 is not supported/);
    rejects(patched(4, u32(4)), /version/, /version 4/);
  });

  it('rejects every truncation with a GgufError, never anything else', () => {
    const file = parseGguf(valid);
    const dataEnd = file.dataOffset + Math.max(...file.tensors.map((t) => t.offset + t.byteSize));
    // Past dataEnd only the last tensor's padding is cut, which a reader need not have.
    for (let n = 0; n < dataEnd; n += 3) {
      expect(() => parseGguf(valid.subarray(0, n)), `truncated at ${n}`).toThrow(GgufError);
    }
  });

  it('rejects huge counts and lengths before allocating for them', () => {
    rejects(patched(tensorCountAt, u64(2n ** 63n)), /tensor count/, /more than the file can hold/);
    rejects(patched(kvCountAt, u64(2n ** 40n)), /metadata count/, /more than the file can hold/);
    // The first key's length.
    rejects(patched(24, u64(2n ** 62n)), /metadata 0 key length/, /more than the file can hold/);
    const tokens = after('tokenizer.ggml.tokens') + 4 + 4; // value type, element type
    rejects(patched(tokens, u64(2n ** 50n)), /tokenizer.ggml.tokens" element count/, /more than/);
    const firstToken = tokens + 8;
    rejects(patched(firstToken, u64(2n ** 33n)), /tokens"\[0\] length/, /more than/);
  });

  it('rejects bad value types and bad bools', () => {
    const nameType = after('general.name');
    rejects(patched(nameType, u32(13)), /general.name/, /unknown value type 13/);
    const tokensType = after('tokenizer.ggml.tokens') + 4;
    rejects(patched(tokensType, u32(77)), /element type/, /unknown value type 77/);
    const boolValue = after('test.bool') + 4;
    rejects(patched(boolValue, [2]), /test.bool/, /bool must be 0 or 1, got 2/);
  });

  // Tensor info: name, n_dims (u32), dims (u64 each), type (u32), offset (u64).
  const info = (name: string) => after(name);
  it('rejects bad tensor types, dims and sizes', () => {
    const q = info('blk.0.attn_q.weight');
    rejects(patched(q, u32(5)), /n_dims/, /must be 1..4, got 5/);
    rejects(patched(q, u32(0)), /n_dims/, /must be 1..4, got 0/);
    rejects(patched(q + 4, u64(0n)), /dim 0/, /is zero/);
    rejects(patched(q + 12, u64(2n ** 60n)), /dim 1/, /overflow/);
    rejects(patched(q + 20, u32(99)), /type/, /unknown GGML type 99/);
    rejects(patched(q + 4, u64(100n)), /dim 0/, /not a whole number of Q4_K blocks/);
  });

  it('rejects out-of-range, overlapping and misaligned offsets', () => {
    const norm = info('output_norm.weight') + 4 + 8 + 4;
    rejects(
      patched(norm, u64(2n ** 40n)),
      /output_norm.weight" offset/,
      /more than the file can hold/,
    );
    rejects(patched(norm, u64(BigInt(valid.length))), /offset/, /runs past the end/);
    rejects(patched(norm, u64(0n)), /offset/, /overlaps tensor/);
    rejects(patched(norm, u64(33n)), /offset/, /not a multiple of the alignment 32/);
  });

  it('rejects bad alignment and duplicate names and keys', () => {
    const bad = (alignment: number) =>
      writeGguf({ ...metadata, 'general.alignment': { type: 'u32', value: alignment } }, tensors);
    expect(() => parseGguf(bad(3))).toThrow(/general.alignment.*power of two, got 3/);
    expect(() => parseGguf(bad(0))).toThrow(/power of two, got 0/);
    expect(parseGguf(bad(64)).alignment).toBe(64);
    const twice = writeGguf(metadata, [...tensors, { ...tensors[3] }]);
    expect(() => parseGguf(twice)).toThrow(/duplicate tensor name/);
    const keyTwice = patched(
      after('test.u64') - 'test.u64'.length,
      new TextEncoder().encode('test.i64'),
    );
    expect(() => parseGguf(keyTwice)).toThrow(/"test.i64".*duplicate key/);
  });

  it('refuses metadata built to amplify: millions of empty arrays, past 4x the file in memory', () => {
    // One key holding n empty u8 arrays: 12 bytes of file each, ~400 bytes of memory when parsed
    // (10 M of them took 7.8 GB before the budget).
    const n = 1_000_000;
    const key = new TextEncoder().encode('test.amplify');
    const head = [
      ...u32(0x46554747), // "GGUF"
      ...u32(3),
      ...u64(0n), // tensors
      ...u64(1n), // metadata
      ...u64(BigInt(key.length)),
      ...key,
      ...u32(9), // array
      ...u32(9), // of arrays
      ...u64(BigInt(n)),
    ];
    const bytes = new Uint8Array(head.length + 12 * n);
    bytes.set(head);
    for (let i = 0; i < n; i++) bytes.set(u64(0n), head.length + 12 * i + 4); // u8, count 0
    const started = performance.now();
    rejects(
      bytes,
      /metadata "test.amplify"\[\d+\]/,
      /would take more than 62 MiB of memory \(4 times the file's 12 MiB\): its metadata is built to amplify/,
    );
    expect(performance.now() - started).toBeLessThan(10_000);
    // A real vocabulary's worth of short strings stays well inside the budget.
    const tokens = Array.from({ length: 128_000 }, (_, i) => String.fromCodePoint(33 + (i % 90)));
    const file = writeGguf(
      { 'tokenizer.ggml.tokens': { type: 'array', of: 'string', value: tokens } },
      [],
    );
    expect((parseGguf(file).metadata.get('tokenizer.ggml.tokens') as string[]).length).toBe(
      128_000,
    );
  });

  it('survives a seeded fuzz run of 10,000 mutated files: parsed or GgufError, nothing else', () => {
    const fuzz = new Rng(20261121);
    let parsed = 0;
    let rejected = 0;
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) {
      let bytes = valid.slice();
      const kind = fuzz.int(0, 4);
      if (kind === 0) {
        for (let k = fuzz.int(1, 8); k > 0; k--)
          bytes[fuzz.int(0, bytes.length - 1)] = fuzz.int(0, 255);
      } else if (kind === 1) {
        const at = fuzz.int(0, Math.floor((bytes.length - 8) / 4)) * 4;
        bytes.set(u64(BigInt(fuzz.int(0, 2 ** 31)) * BigInt(fuzz.int(1, 2 ** 31))), at);
      } else if (kind === 2) {
        bytes = bytes.subarray(0, fuzz.int(0, bytes.length));
      } else if (kind === 3) {
        const at = fuzz.int(0, bytes.length);
        const extra = Uint8Array.from({ length: fuzz.int(1, 16) }, () => fuzz.int(0, 255));
        bytes = Uint8Array.from([...bytes.subarray(0, at), ...extra, ...bytes.subarray(at)]);
      } else {
        const at = fuzz.int(0, bytes.length - 4);
        bytes.set(u32(fuzz.int(0, 2 ** 32 - 1)), at);
      }
      try {
        parseGguf(bytes);
        parsed++;
      } catch (error) {
        if (!(error instanceof GgufError))
          throw new Error(`mutation ${i} (kind ${kind}) threw ${String(error)}`, { cause: error });
        rejected++;
      }
    }
    expect(parsed + rejected).toBe(10_000);
    expect(rejected).toBeGreaterThan(1000);
    // No hang: the whole run is quick (a loose bound, only to catch a parser that loops).
    expect(performance.now() - started).toBeLessThan(60_000);
  });
});
