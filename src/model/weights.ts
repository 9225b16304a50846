import { GgufError, GpuAllocationError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { formatBytes } from '../gpu/facts.js';
import { F32, quantFormats, type QuantName } from '../quant/index.js';
import { ggmlTypes, type GgufFile, type GgufTensorInfo } from './gguf/types.js';
import type { ByteSource } from './gguf/reader.js';

/** One tensor on the GPU: its buffer (maybe shared) and where in it the tensor starts. */
export interface GpuTensor {
  info: GgufTensorInfo;
  format: QuantName;
  buffer: GPUBuffer;
  offset: number;
}

/** Bytes read from the source per step while streaming a tensor to the GPU. */
const STREAM_CHUNK = 16 << 20;

/** The weight format a GGUF type id names, if agentgpu's kernels run it. */
export function formatOfTensor(t: GgufTensorInfo): QuantName {
  const name = ggmlTypes.get(t.type)?.name;
  if (!name || !(name in quantFormats)) {
    throw new GgufError(
      `tensor "${t.name}" type`,
      0,
      `${name ?? t.type} weights are not supported yet (supported: ${Object.keys(quantFormats).join(', ')}): ` +
        'pick a file quantized as Q4_K_M, Q8_0 or F16',
    );
  }
  return name as QuantName;
}

/**
 * Loads GGUF tensors into GPU buffers, streaming each from the source in chunks (no second
 * full copy in JS memory). Groups of tensors that kernels read together (gate and up; q, k and v)
 * share one buffer, back to back. Checks every buffer against the adapter's limits before
 * allocating.
 */
export class WeightStore {
  private readonly tensors = new Map<string, GpuTensor>();
  private readonly buffers: GPUBuffer[] = [];
  bytes = 0;

  private constructor(
    private readonly gpu: GpuContext,
    readonly file: GgufFile,
  ) {}

  /**
   * `groups`: names to place together in one buffer, in order (e.g. a layer's gate and up);
   * `f32`: tensors to convert to F32 on load (norm weights stored as F16 or BF16).
   */
  static async load(
    gpu: GpuContext,
    file: GgufFile,
    source: ByteSource,
    options: {
      groups?: string[][];
      f32?: (name: string) => boolean;
      /** Bytes written to GPU buffers so far, of all the weights'. */
      onProgress?: (loaded: number, total: number) => void;
    } = {},
  ): Promise<WeightStore> {
    const store = new WeightStore(gpu, file);
    const byName = new Map(file.tensors.map((t) => [t.name, t]));
    const grouped = new Set<string>();
    const plan: GgufTensorInfo[][] = [];
    const toF32 = options.f32 ?? (() => false);
    const sizeOf = (t: GgufTensorInfo) => (toF32(t.name) ? t.elements * 4 : t.byteSize);
    const align = gpu.facts.limits.minStorageBufferOffsetAlignment;
    for (const group of options.groups ?? []) {
      const members = group.map((n) => byName.get(n));
      // Together only when all exist, share a type, and each member starts where a binding may
      // (kernels also bind them one by one): every size but the last a multiple of the
      // storage offset alignment.
      const fits =
        members.every((t) => t !== undefined) &&
        members.slice(0, -1).every((t) => sizeOf(t!) % align === 0) &&
        sizeOf(members.at(-1)!) % 4 === 0 &&
        new Set(members.map((t) => t!.type)).size === 1;
      if (fits) {
        plan.push(members as GgufTensorInfo[]);
        group.forEach((n) => grouped.add(n));
      }
    }
    for (const t of file.tensors) if (!grouped.has(t.name)) plan.push([t]);
    const limits = gpu.facts.limits;
    for (const group of plan) {
      const bytes = group.reduce((n, t) => n + sizeOf(t), 0);
      const largest = Math.max(bytes, ...group.map(sizeOf));
      if (largest > limits.maxBufferSize) {
        throw new GpuAllocationError(
          `tensor "${group[0].name}" needs ${formatBytes(largest)} but this adapter allows ` +
            `${formatBytes(limits.maxBufferSize)} per buffer: pick a smaller model or quantization`,
        );
      }
    }
    const total = plan.flat().reduce((n, t) => n + sizeOf(t), 0);
    let loaded = 0;
    const uploaded = (bytes: number) => options.onProgress?.((loaded += bytes), total);
    try {
      for (const group of plan) await store.upload(group, source, toF32, uploaded);
    } catch (error) {
      store.destroy();
      throw error;
    }
    return store;
  }

  private async upload(
    group: GgufTensorInfo[],
    source: ByteSource,
    toF32: (name: string) => boolean,
    uploaded: (bytes: number) => void,
  ) {
    const sizes = group.map((t) => (toF32(t.name) ? t.elements * 4 : t.byteSize));
    const total = sizes.reduce((a, b) => a + b, 0);
    const buffer = await this.gpu.createBuffer(
      Math.ceil(total / 4) * 4,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      group.map((t) => t.name).join('+'),
    );
    this.buffers.push(buffer);
    this.bytes += buffer.size;
    let offset = 0;
    for (const [i, t] of group.entries()) {
      const start = this.file.dataOffset + t.offset;
      if (toF32(t.name)) {
        const format = quantFormats[formatOfTensor(t)];
        const values = format.dequantize(await source.read(start, t.byteSize), t.elements);
        this.gpu.write(buffer, F32.quantize(values), offset);
        uploaded(sizes[i]);
        this.tensors.set(t.name, { info: t, format: 'F32', buffer, offset });
      } else {
        for (let done = 0; done < t.byteSize; done += STREAM_CHUNK) {
          const chunk = await source.read(start + done, Math.min(STREAM_CHUNK, t.byteSize - done));
          this.gpu.write(buffer, chunk, offset + done);
          uploaded(chunk.length);
        }
        this.tensors.set(t.name, { info: t, format: formatOfTensor(t), buffer, offset });
      }
      offset += sizes[i];
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): GpuTensor {
    const t = this.tensors.get(name);
    if (!t)
      throw new GgufError(
        `tensor "${name}"`,
        0,
        'missing: the file does not have a tensor the architecture needs',
      );
    return t;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}

/** A ByteSource over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}
