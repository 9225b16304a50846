import { GgufError } from '../../errors.js';
import {
  ggmlTypes,
  GgufValueType,
  type GgufArray,
  type GgufFile,
  type GgufTensorInfo,
  type GgufValue,
} from './types.js';

// A GGUF v2/v3 header parser that trusts nothing: every count, length and offset is checked
// against the bytes the file has before anything is allocated, 64-bit values are read as
// bigints and only become numbers when exact, and every failure is a GgufError naming the
// field and its byte offset.

const MAGIC = 0x46554747; // the bytes "GGUF", read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_NAME_BYTES = 63; // GGML_MAX_NAME - 1
const MAX_ARRAY_DEPTH = 3;
// The fewest bytes one entry can take, to bound counts before allocating for them.
const MIN_KV_BYTES = 8 + 1 + 4 + 1; // key length, a 1-byte key, value type, a 1-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8; // name length, name, n_dims, one dim, type, offset

// What the parsed header may hold in memory: 4x the file's size (and 16 MiB for the smallest
// files). A file can amplify: an empty array takes 12 bytes of file and ~400 of memory, so 10 M
// of them in a 121 MB file took 7.8 GB. Values are charged as V8 holds them (measured on Node
// 20: a typed array ~400 bytes besides its data, a JS array ~80 plus 8 a slot, a string ~40 plus
// its bytes), before they are made.
const MEMORY_PER_FILE_BYTE = 4;
const MEMORY_FLOOR = 16 << 20;
const TYPED_ARRAY_COST = 400;
const ARRAY_COST = 80;
const SLOT_COST = 8;
const STRING_COST = 40;
const TENSOR_INFO_COST = 256;

/** Thrown inside the parser when a prefix ends before the header does; readGguf reads more. */
export class NeedMoreBytes extends Error {
  constructor(readonly needed: number) {
    super(`need ${needed} bytes of the file`);
  }
}

// ignoreBOM: a string starting with U+FEFF keeps it (Llama 2's vocabulary has that token).
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

class Cursor {
  pos = 0;
  private readonly view: DataView;
  /** Memory the values parsed so far take, estimated, against `budget`. */
  private held = 0;
  private readonly budget: number;

  constructor(
    private readonly bytes: Uint8Array,
    /** Size of the whole file; `bytes` may be a prefix of it. */
    readonly fileSize: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.budget = MEMORY_PER_FILE_BYTE * fileSize + MEMORY_FLOOR;
  }

  /** Counts `bytes` of memory the next value takes; past the budget the file is refused. */
  charge(bytes: number, field: string): void {
    this.held += bytes;
    if (this.held > this.budget) {
      const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;
      throw new GgufError(
        field,
        this.pos,
        `the header's values would take more than ${mib(this.budget)} of memory (4 times the ` +
          `file's ${mib(this.fileSize)}): its metadata is built to amplify (e.g. millions of ` +
          'empty arrays), which no real model file does; refusing it',
      );
    }
  }

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  /** Checks `n` bytes at pos exist in the file, and in the prefix we hold. */
  need(n: number, field: string): void {
    if (n > this.remaining) {
      throw new GgufError(
        field,
        this.pos,
        `needs ${n} bytes but the file ends at byte ${this.fileSize} (truncated?)`,
      );
    }
    if (this.pos + n > this.bytes.length) throw new NeedMoreBytes(this.pos + n);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.pos++);
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64big(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A u64 count or size, which must fit a JS number exactly and not exceed `max`. */
  count(field: string, max: number, what = 'count'): number {
    const at = this.pos;
    const v = this.u64big(field);
    if (v > BigInt(max)) {
      throw new GgufError(
        field,
        at,
        `${what} ${v} is more than the file can hold (at most ${max})`,
      );
    }
    return Number(v);
  }

  /** A length-prefixed string; invalid UTF-8 decodes with replacement characters. */
  string(field: string, maxBytes = Infinity): string {
    const limit = Math.min(this.remaining - 8, maxBytes);
    const length = this.count(
      `${field} length`,
      limit,
      maxBytes < Infinity ? 'length (limit)' : 'length',
    );
    this.need(length, field);
    this.charge(STRING_COST + length, field);
    const text = decoder.decode(this.bytes.subarray(this.pos, this.pos + length));
    this.pos += length;
    return text;
  }

  /** A typed array view copied out of the file: `count` elements of `size` bytes. */
  array<T>(field: string, count: number, size: number, make: (buffer: ArrayBuffer) => T): T {
    this.need(count * size, field);
    this.charge(TYPED_ARRAY_COST + count * size, field);
    const copy = this.bytes.slice(this.pos, this.pos + count * size);
    this.pos += count * size;
    return make(copy.buffer);
  }
}

const scalarSizes: Record<number, number> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

function exact(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(v)
    : v;
}

function readScalar(c: Cursor, type: number, field: string): GgufValue {
  const size = scalarSizes[type];
  c.need(size, field);
  const at = c.pos;
  const view = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < size; i++) view.setUint8(i, c.u8(field));
  switch (type) {
    case GgufValueType.UINT8:
      return view.getUint8(0);
    case GgufValueType.INT8:
      return view.getInt8(0);
    case GgufValueType.UINT16:
      return view.getUint16(0, true);
    case GgufValueType.INT16:
      return view.getInt16(0, true);
    case GgufValueType.UINT32:
      return view.getUint32(0, true);
    case GgufValueType.INT32:
      return view.getInt32(0, true);
    case GgufValueType.FLOAT32:
      return view.getFloat32(0, true);
    case GgufValueType.UINT64:
      return exact(view.getBigUint64(0, true));
    case GgufValueType.INT64:
      return exact(view.getBigInt64(0, true));
    case GgufValueType.FLOAT64:
      return view.getFloat64(0, true);
    case GgufValueType.BOOL: {
      const b = view.getUint8(0);
      if (b > 1) throw new GgufError(field, at, `bool must be 0 or 1, got ${b}`);
      return b === 1;
    }
  }
  throw new GgufError(field, at, `unknown value type ${type}`);
}

function readValue(c: Cursor, type: number, field: string, depth: number): GgufValue {
  if (type === GgufValueType.STRING) return c.string(field);
  if (type !== GgufValueType.ARRAY) {
    if (!(type in scalarSizes)) {
      throw new GgufError(field, c.pos - 4, `unknown value type ${type} (valid: 0..12)`);
    }
    return readScalar(c, type, field);
  }
  if (depth >= MAX_ARRAY_DEPTH) {
    throw new GgufError(field, c.pos, `arrays nested more than ${MAX_ARRAY_DEPTH} deep`);
  }
  const typeAt = c.pos;
  const elementType = c.u32(`${field} element type`);
  // Strings take at least their 8-byte length, arrays their 12-byte header.
  const minSize =
    elementType === GgufValueType.STRING
      ? 8
      : elementType === GgufValueType.ARRAY
        ? 12
        : scalarSizes[elementType];
  if (minSize === undefined) {
    throw new GgufError(
      `${field} element type`,
      typeAt,
      `unknown value type ${elementType} (valid: 0..12)`,
    );
  }
  const n = c.count(`${field} element count`, Math.floor((c.remaining - 8) / minSize));
  return readArray(c, elementType, n, field, depth);
}

function readArray(c: Cursor, type: number, n: number, field: string, depth: number): GgufArray {
  switch (type) {
    case GgufValueType.UINT8:
      return c.array(field, n, 1, (b) => new Uint8Array(b));
    case GgufValueType.INT8:
      return c.array(field, n, 1, (b) => new Int8Array(b));
    case GgufValueType.UINT16:
      return c.array(field, n, 2, (b) => new Uint16Array(b));
    case GgufValueType.INT16:
      return c.array(field, n, 2, (b) => new Int16Array(b));
    case GgufValueType.UINT32:
      return c.array(field, n, 4, (b) => new Uint32Array(b));
    case GgufValueType.INT32:
      return c.array(field, n, 4, (b) => new Int32Array(b));
    case GgufValueType.FLOAT32:
      return c.array(field, n, 4, (b) => new Float32Array(b));
    case GgufValueType.FLOAT64:
      return c.array(field, n, 8, (b) => new Float64Array(b));
    case GgufValueType.UINT64:
      return c.array(field, n, 8, (b) => new BigUint64Array(b));
    case GgufValueType.INT64:
      return c.array(field, n, 8, (b) => new BigInt64Array(b));
    case GgufValueType.BOOL: {
      const bytes = c.array(field, n, 1, (b) => new Uint8Array(b));
      c.charge(ARRAY_COST + SLOT_COST * n, field);
      const bad = bytes.findIndex((b) => b > 1);
      if (bad >= 0)
        throw new GgufError(field, c.pos - n + bad, `bool must be 0 or 1, got ${bytes[bad]}`);
      return Array.from(bytes, (b) => b === 1);
    }
    case GgufValueType.STRING: {
      c.charge(ARRAY_COST + SLOT_COST * n, field);
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(c.string(`${field}[${i}]`));
      return out;
    }
    default: {
      c.charge(ARRAY_COST + SLOT_COST * n, field);
      const out: GgufArray[] = [];
      for (let i = 0; i < n; i++) {
        const v = readValue(c, GgufValueType.ARRAY, `${field}[${i}]`, depth + 1);
        out.push(v as GgufArray);
      }
      return out;
    }
  }
}

interface ParsedTensor extends GgufTensorInfo {
  /** Where its entry starts, and where its offset field is: for error positions. */
  infoAt: number;
  offsetAt: number;
}

function readTensorInfo(c: Cursor, index: number): ParsedTensor {
  const infoAt = c.pos;
  const field = `tensor ${index}`;
  c.charge(TENSOR_INFO_COST, field);
  const name = c.string(`${field} name`, MAX_NAME_BYTES);
  const nDimsAt = c.pos;
  const nDims = c.u32(`tensor "${name}" n_dims`);
  if (nDims === 0 || nDims > MAX_DIMS) {
    throw new GgufError(`tensor "${name}" n_dims`, nDimsAt, `must be 1..${MAX_DIMS}, got ${nDims}`);
  }
  const dims: number[] = [];
  let elements = 1;
  for (let d = 0; d < nDims; d++) {
    const at = c.pos;
    const dim = c.u64big(`tensor "${name}" dim ${d}`);
    if (dim === 0n) throw new GgufError(`tensor "${name}" dim ${d}`, at, 'is zero');
    // Elements beyond 2^53 cannot be addressed (nor stored in any file).
    if (dim > BigInt(Number.MAX_SAFE_INTEGER) || elements * Number(dim) > Number.MAX_SAFE_INTEGER) {
      throw new GgufError(
        `tensor "${name}" dim ${d}`,
        at,
        `${dim} makes the tensor's size overflow`,
      );
    }
    dims.push(Number(dim));
    elements *= Number(dim);
  }
  const typeAt = c.pos;
  const type = c.u32(`tensor "${name}" type`);
  const info = ggmlTypes.get(type);
  if (!info) throw new GgufError(`tensor "${name}" type`, typeAt, `unknown GGML type ${type}`);
  if (dims[0] % info.blockValues !== 0) {
    throw new GgufError(
      `tensor "${name}" dim 0`,
      nDimsAt + 4,
      `row of ${dims[0]} values is not a whole number of ${info.name} blocks of ${info.blockValues}`,
    );
  }
  const byteSize = (elements / info.blockValues) * info.blockBytes;
  const offsetAt = c.pos;
  const offset = c.count(`tensor "${name}" offset`, c.fileSize, 'offset');
  return { name, dims, type, typeName: info.name, offset, byteSize, elements, infoAt, offsetAt };
}

/**
 * Parses a GGUF header from `bytes`, the first bytes of a file of `fileSize` bytes (the whole
 * file, or a prefix: throws NeedMoreBytes when the header runs past it).
 */
export function parseGguf(bytes: Uint8Array, fileSize = bytes.length): GgufFile {
  const c = new Cursor(bytes, fileSize);
  const magic = c.u32('magic');
  if (magic !== MAGIC) {
    const first = magic.toString(16).padStart(8, '0');
    throw new GgufError('magic', 0, `not a GGUF file (first bytes 0x${first})`);
  }
  const version = c.u32('version');
  const swapped =
    ((version & 0xff) << 24) |
    ((version & 0xff00) << 8) |
    ((version >>> 8) & 0xff00) |
    (version >>> 24);
  if (swapped === 2 || swapped === 3) {
    throw new GgufError(
      'version',
      4,
      'a big-endian GGUF, which agentgpu does not read: convert it to little-endian',
    );
  }
  if (version !== 2 && version !== 3) {
    throw new GgufError(
      'version',
      4,
      `version ${version} is not supported (agentgpu reads GGUF v2 and v3)`,
    );
  }
  const tensorCount = c.count(
    'tensor count',
    Math.floor((c.remaining - 16) / MIN_TENSOR_INFO_BYTES),
  );
  const kvCount = c.count('metadata count', Math.floor((c.remaining - 8) / MIN_KV_BYTES));

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const keyAt = c.pos;
    const key = c.string(`metadata ${i} key`);
    if (metadata.has(key)) throw new GgufError(`metadata "${key}"`, keyAt, 'duplicate key');
    const type = c.u32(`metadata "${key}" type`);
    metadata.set(key, readValue(c, type, `metadata "${key}"`, 0));
  }

  let alignment = DEFAULT_ALIGNMENT;
  if (metadata.has('general.alignment')) {
    const a = metadata.get('general.alignment');
    if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
      throw new GgufError(
        'metadata "general.alignment"',
        0,
        `must be a power of two, got ${String(a)}`,
      );
    }
    alignment = a;
  }

  const tensors: ParsedTensor[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const t = readTensorInfo(c, i);
    if (names.has(t.name))
      throw new GgufError(`tensor "${t.name}"`, t.infoAt, 'duplicate tensor name');
    names.add(t.name);
    if (t.offset % alignment !== 0) {
      throw new GgufError(
        `tensor "${t.name}" offset`,
        t.offsetAt,
        `${t.offset} is not a multiple of the alignment ${alignment}`,
      );
    }
    tensors.push(t);
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const dataBytes = fileSize - dataOffset;
  if (tensorCount > 0 && dataBytes < 0) {
    throw new GgufError(
      'data section',
      c.pos,
      `starts at byte ${dataOffset}, past the end of the file (${fileSize})`,
    );
  }
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  byOffset.forEach((t, i) => {
    if (t.offset + t.byteSize > dataBytes) {
      throw new GgufError(
        `tensor "${t.name}" offset`,
        t.offsetAt,
        `data at ${t.offset}..${t.offset + t.byteSize} runs past the end of the file's data (${dataBytes} bytes)`,
      );
    }
    const next = byOffset[i + 1];
    if (next && t.offset + t.byteSize > next.offset) {
      throw new GgufError(
        `tensor "${next.name}" offset`,
        next.offsetAt,
        `data overlaps tensor "${t.name}"`,
      );
    }
  });

  return {
    version,
    metadata,
    tensors: tensors.map((t) => ({
      name: t.name,
      dims: t.dims,
      type: t.type,
      typeName: t.typeName,
      offset: t.offset,
      byteSize: t.byteSize,
      elements: t.elements,
    })),
    alignment,
    dataOffset,
    fileSize,
  };
}

/** Where GGUF bytes come from: a file, a Blob, an HTTP server with Range requests. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Reads and parses a GGUF header, fetching a larger prefix while the header runs past it. */
export async function readGgufHeader(source: ByteSource, firstRead = 1 << 20): Promise<GgufFile> {
  let length = Math.min(firstRead, source.size);
  for (;;) {
    const prefix = await source.read(0, length);
    try {
      return parseGguf(prefix, source.size);
    } catch (error) {
      if (!(error instanceof NeedMoreBytes)) throw error;
      length = Math.min(source.size, Math.max(error.needed, length * 2));
    }
  }
}
