// A minimal ONNX ModelProto writer: enough of onnx.proto (graph, nodes, attributes, tensors,
// typed inputs and outputs) for the tests to build small models at test time. Field numbers
// are onnx.proto's; the encoding is plain protobuf (varints, length-delimited messages).

/** ONNX TensorProto.DataType values used here. */
export const OnnxType = { float: 1, int64: 7 } as const;
export type OnnxTypeName = keyof typeof OnnxType;

export interface OnnxTensor {
  name: string;
  type: OnnxTypeName;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, number | number[]>;
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
}

class Proto {
  private readonly parts: number[] = [];

  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.parts.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.parts.push(Number(v));
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
    this.parts.push(...b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.varint(value.length);
    for (const b of value) this.parts.push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, message: Proto): this {
    return this.bytes(field, message.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
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

function attribute(name: string, value: number | number[]): Proto {
  const p = new Proto().string(1, name);
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
    for (const [name, value] of Object.entries(n.attributes ?? {})) {
      node.message(5, attribute(name, value));
    }
    g.message(1, node);
  });
  g.string(2, 'graph');
  for (const t of graph.initializers) g.message(5, tensor(t));
  for (const v of graph.inputs) g.message(11, valueInfo(v));
  for (const v of graph.outputs) g.message(12, valueInfo(v));
  return new Proto()
    .int(1, 8)
    .string(2, 'agentgpu-tests')
    .message(7, g)
    .message(8, new Proto().string(1, '').int(2, graph.opset ?? 13))
    .finish();
}
