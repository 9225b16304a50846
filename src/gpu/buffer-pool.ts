import { GpuAllocationError } from '../errors.js';
import { formatBytes, type GpuLimits } from './facts.js';

/**
 * Allocates GPU buffers inside error scopes and recycles released ones by size class, so the
 * per-step scratch buffers of a decode loop are not created and destroyed every token.
 *
 * Size classes: powers of two up to 16 MiB, then whole MiB. A pooled buffer may be larger than
 * asked for; kernels take their sizes from params, never from arrayLength().
 */
export class BufferPool {
  private readonly idle = new Map<string, GPUBuffer[]>();
  private idleBytes = 0;
  private liveBytes = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly limits: GpuLimits,
    /** Idle bytes kept for reuse; releases beyond this destroy the buffer. */
    private readonly maxIdleBytes = 256 * 1024 * 1024,
    /** Counts the buffers it creates (GpuContext.counters). */
    private readonly counters?: { buffersCreated: number },
  ) {}

  static sizeClass(bytes: number): number {
    const mib = 1024 * 1024;
    if (bytes <= 256) return 256;
    if (bytes <= 16 * mib) return 2 ** Math.ceil(Math.log2(bytes));
    return Math.ceil(bytes / mib) * mib;
  }

  get stats(): { liveBytes: number; idleBytes: number } {
    return { liveBytes: this.liveBytes, idleBytes: this.idleBytes };
  }

  /** A buffer of at least `bytes`, from the idle set when one fits, else freshly allocated. */
  async acquire(bytes: number, usage: GPUBufferUsageFlags, label: string): Promise<GPUBuffer> {
    const size = Math.min(BufferPool.sizeClass(bytes), Math.max(bytes, this.limits.maxBufferSize));
    const key = `${usage}:${size}`;
    const reused = this.idle.get(key)?.pop();
    if (reused) {
      this.idleBytes -= reused.size;
      this.liveBytes += reused.size;
      reused.label = label;
      return reused;
    }
    const buffer = await allocateBuffer(this.device, this.limits, { size, usage, label });
    if (this.counters) this.counters.buffersCreated++;
    this.liveBytes += buffer.size;
    return buffer;
  }

  /** Gives a buffer from acquire() back; it must not be used after this. */
  release(buffer: GPUBuffer): void {
    this.liveBytes -= buffer.size;
    if (this.idleBytes + buffer.size > this.maxIdleBytes) {
      buffer.destroy();
      return;
    }
    const key = `${buffer.usage}:${buffer.size}`;
    const list = this.idle.get(key) ?? [];
    list.push(buffer);
    this.idle.set(key, list);
    this.idleBytes += buffer.size;
  }

  /** Destroys every idle buffer. */
  trim(): void {
    for (const list of this.idle.values()) for (const buffer of list) buffer.destroy();
    this.idle.clear();
    this.idleBytes = 0;
  }
}

/**
 * createBuffer inside out-of-memory and validation error scopes, with the size checked against
 * the device's limits first so the common failure gets a message that says what to do.
 */
export async function allocateBuffer(
  device: GPUDevice,
  limits: GpuLimits,
  descriptor: GPUBufferDescriptor & { label: string },
): Promise<GPUBuffer> {
  const { size, label } = descriptor;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new GpuAllocationError(`buffer "${label}": size ${size} is not a byte count`);
  }
  if (size > limits.maxBufferSize) {
    throw new GpuAllocationError(
      `buffer "${label}" needs ${formatBytes(size)} but this adapter allows at most ` +
        `${formatBytes(limits.maxBufferSize)} per buffer: pick a smaller model or quantization`,
    );
  }
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const buffer = device.createBuffer({ ...descriptor, size: Math.max(size, 4) });
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  if (oom || validation) {
    buffer.destroy();
    const what = oom
      ? `the GPU is out of memory (${oom.message})`
      : `WebGPU rejected it: ${validation?.message}`;
    throw new GpuAllocationError(
      `could not allocate buffer "${label}" of ${formatBytes(size)}: ${what}; ` +
        'free other models or pick a smaller quantization',
    );
  }
  return buffer;
}
