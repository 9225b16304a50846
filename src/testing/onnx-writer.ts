// A minimal ONNX ModelProto writer: enough of onnx.proto (graph, nodes, attributes, tensors,
// typed inputs and outputs, operator-set imports) for the tests to build small models at test
// time and for the benchmarks to export generated GGUF models for onnxruntime. Field numbers
// are onnx.proto's; the encoding is plain protobuf (varints, length-delimited messages).

/** ONNX TensorProto.DataType values used here. */
export const OnnxType = { float: 1, uint8: 2, int32: 6, int64: 7, float16: 10 } as const;
export type OnnxTypeName = keyof typeof OnnxType;

export interface OnnxTensor {
  name: string;
  type: OnnxTypeName;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
}

/** An attribute: an integer, a float (`{ float }` for an integral one), or a list of ints. */
export type OnnxAttribute = number | number[] | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, OnnxAttribute>;
  /** The operator's domain: '' (ONNX) unless named, e.g. 'com.microsoft'. */
  domain?: string;
}

export interface OnnxValue {
  name: string;
  type: OnnxTypeName;
  /** A number for a fixed dimension, a name for a symbolic one. */
  shape: (number | string)[];
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  opset?: number;
  /** Operator sets beyond the default domain's, e.g. { 'com.microsoft': 1 }. */
  domains?: Record<string, number>;
}

/** Protobuf bytes as a list of pieces: tensor data is kept by reference, not copied byte by byte. */
class Proto {
  private readonly pieces: Uint8Array[] = [];
  private pending: number[] = [];
  length = 0;

  private flush(): void {
    if (this.pending.length === 0) return;
    this.pieces.push(Uint8Array.from(this.pending));
    this.pending = [];
  }

  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.pending.push(Number(v & 0x7fn) | 0x80);
      this.length++;
      v >>= 7n;
    }
    this.pending.push(Number(v));
    this.length++;
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number | bigint): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.pending.push(...b);
    this.length += 4;
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.varint(value.length);
    this.flush();
    this.pieces.push(value);
    this.length += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, message: Proto): this {
    this.key(field, 2);
    this.varint(message.length);
    this.flush();
    message.flush();
    this.pieces.push(...message.pieces);
    this.length += message.length;
    return this;
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const piece of this.pieces) {
      out.set(piece, offset);
      offset += piece.length;
    }
    return out;
  }
}

function tensor(t: OnnxTensor): Proto {
  const p = new Proto();
  for (const d of t.dims) p.int(1, d);
  p.int(2, OnnxType[t.type]);
  p.string(8, t.name);
  return p.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function valueInfo(v: OnnxValue): Proto {
  const shape = new Proto();
  for (const d of v.shape) {
    shape.message(1, typeof d === 'number' ? new Proto().int(1, d) : new Proto().string(2, d));
  }
  const tensorType = new Proto().int(1, OnnxType[v.type]).message(2, shape);
  return new Proto().string(1, v.name).message(2, new Proto().message(1, tensorType));
}

function attribute(name: string, value: OnnxAttribute): Proto {
  const p = new Proto().string(1, name);
  if (typeof value === 'object' && !Array.isArray(value)) return p.float(2, value.float).int(20, 1);
  if (Array.isArray(value)) {
    for (const v of value) p.int(8, v);
    return p.int(20, 7); // INTS
  }
  return Number.isInteger(value) ? p.int(3, value).int(20, 2) : p.float(2, value).int(20, 1);
}

/** The serialized ModelProto of `graph` (ONNX IR version 8, default opset 13). */
export function writeOnnx(graph: OnnxGraph): Uint8Array {
  const g = new Proto();
  graph.nodes.forEach((n, i) => {
    const node = new Proto();
    for (const input of n.inputs) node.string(1, input);
    for (const output of n.outputs) node.string(2, output);
    node.string(3, `${n.op.toLowerCase()}_${i}`).string(4, n.op);
    if (n.domain) node.string(7, n.domain);
    for (const [name, value] of Object.entries(n.attributes ?? {})) {
      node.message(5, attribute(name, value));
    }
    g.message(1, node);
  });
  g.string(2, 'graph');
  for (const t of graph.initializers) g.message(5, tensor(t));
  for (const v of graph.inputs) g.message(11, valueInfo(v));
  for (const v of graph.outputs) g.message(12, valueInfo(v));
  const model = new Proto()
    .int(1, 8)
    .string(2, 'agentgpu-tests')
    .message(7, g)
    .message(8, new Proto().string(1, '').int(2, graph.opset ?? 13));
  for (const [domain, version] of Object.entries(graph.domains ?? {})) {
    model.message(8, new Proto().string(1, domain).int(2, version));
  }
  return model.finish();
}
