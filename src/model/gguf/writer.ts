import { GgufValueType } from './types.js';

// Writes GGUF v3 files: the test suite's generated models, and tools. The reader's mirror.

/** A metadata value with its GGUF type spelled out (GGUF readers check types per key). */
export type GgufWriteValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; value: number }
  | { type: 'u64' | 'i64'; value: bigint | number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | {
      type: 'array';
      of: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';
      value: ArrayLike<number>;
    }
  | { type: 'array'; of: 'string'; value: readonly string[] };

export interface GgufWriteTensor {
  name: string;
  /** GGML order: dims[0] is the row length. */
  dims: number[];
  /** GGML type id. */
  type: number;
  /** The tensor's bytes, exactly as stored. */
  data: Uint8Array;
}

const typeIds = {
  u8: GgufValueType.UINT8,
  i8: GgufValueType.INT8,
  u16: GgufValueType.UINT16,
  i16: GgufValueType.INT16,
  u32: GgufValueType.UINT32,
  i32: GgufValueType.INT32,
  f32: GgufValueType.FLOAT32,
  f64: GgufValueType.FLOAT64,
  u64: GgufValueType.UINT64,
  i64: GgufValueType.INT64,
  bool: GgufValueType.BOOL,
  string: GgufValueType.STRING,
  array: GgufValueType.ARRAY,
} as const;

class ByteWriter {
  private chunks: Uint8Array[] = [];
  length = 0;
  private readonly encoder = new TextEncoder();

  bytes(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  private scalar(size: number, set: (v: DataView) => void): void {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    this.bytes(b);
  }

  u32(v: number): void {
    this.scalar(4, (d) => d.setUint32(0, v, true));
  }

  u64(v: number | bigint): void {
    this.scalar(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }

  number(type: keyof typeof typeIds, v: number | bigint): void {
    switch (type) {
      case 'u8':
        return this.scalar(1, (d) => d.setUint8(0, Number(v)));
      case 'i8':
        return this.scalar(1, (d) => d.setInt8(0, Number(v)));
      case 'u16':
        return this.scalar(2, (d) => d.setUint16(0, Number(v), true));
      case 'i16':
        return this.scalar(2, (d) => d.setInt16(0, Number(v), true));
      case 'u32':
        return this.u32(Number(v));
      case 'i32':
        return this.scalar(4, (d) => d.setInt32(0, Number(v), true));
      case 'f32':
        return this.scalar(4, (d) => d.setFloat32(0, Number(v), true));
      case 'f64':
        return this.scalar(8, (d) => d.setFloat64(0, Number(v), true));
      case 'u64':
        return this.u64(v);
      case 'i64':
        return this.scalar(8, (d) => d.setBigInt64(0, BigInt(v), true));
    }
    throw new Error(`not a number type: ${type}`);
  }

  string(s: string): void {
    const b = this.encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }

  pad(alignment: number): void {
    const extra = (alignment - (this.length % alignment)) % alignment;
    if (extra) this.bytes(new Uint8Array(extra));
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** GGUF v3 bytes: header, metadata, tensor infos, then each tensor's data at an aligned offset. */
export function writeGguf(
  metadata: Readonly<Record<string, GgufWriteValue>>,
  tensors: readonly GgufWriteTensor[],
  defaultAlignment = 32,
): Uint8Array {
  // Lays data out by general.alignment when it is a power of two; an invalid one is still
  // written as given (the malformed-file tests need such files).
  const declared = metadata['general.alignment'];
  const valid =
    declared?.type === 'u32' && declared.value > 0 && (declared.value & (declared.value - 1)) === 0;
  const alignment = valid ? declared.value : defaultAlignment;
  const w = new ByteWriter();
  w.u32(0x46554747);
  w.u32(3);
  w.u64(tensors.length);
  const entries = Object.entries(metadata);
  const withAlignment = alignment !== 32 && !('general.alignment' in metadata);
  w.u64(entries.length + (withAlignment ? 1 : 0));
  if (withAlignment) {
    w.string('general.alignment');
    w.u32(GgufValueType.UINT32);
    w.u32(alignment);
  }
  for (const [key, v] of entries) {
    w.string(key);
    w.u32(typeIds[v.type]);
    if (v.type === 'string') w.string(v.value);
    else if (v.type === 'bool') w.number('u8', v.value ? 1 : 0);
    else if (v.type === 'array') {
      w.u32(typeIds[v.of]);
      w.u64(v.value.length);
      if (v.of === 'string') for (const s of v.value as readonly string[]) w.string(s);
      else for (const x of Array.from(v.value as ArrayLike<number>)) w.number(v.of, x);
    } else w.number(v.type, v.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(t.data.length / alignment) * alignment;
  }
  w.pad(alignment);
  tensors.forEach((t) => {
    w.bytes(t.data);
    w.pad(alignment);
  });
  return w.finish();
}
