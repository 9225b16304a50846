import { DeviceLostError, WebGpuUnavailableError } from '../errors.js';
import { BatchResources, ComputeBatch, newCounters, type GpuCounters } from './batch.js';
import { allocateBuffer, BufferPool } from './buffer-pool.js';
import { readLimits, requestedLimits, type GpuFacts } from './facts.js';
import { PipelineCache } from './pipeline-cache.js';
import { KernelProfiler } from './profiler.js';
import type { ShaderSource } from './shader-library.js';

export interface GpuContextOptions {
  /** Turn an optional feature off even when the adapter has it (tests cover both paths). */
  features?: { shaderF16?: boolean; subgroups?: boolean; packedIntegerDot?: boolean };
  /**
   * The WGSL language features of the GPU object the adapter came from
   * (`navigator.gpu.wgslLanguageFeatures`): what shaders may use beyond WGSL's core.
   */
  wgslLanguageFeatures?: ReadonlySet<string>;
  powerPreference?: GPUPowerPreference;
  /**
   * Choose kernels as for this kind of adapter rather than the kind found (facts.software):
   * checks run the hardware choices on SwiftShader with 'hardware'.
   */
  tuneFor?: 'hardware' | 'software';
  /** Notes gathered while finding the adapter (fallbacks taken), carried into facts.notes. */
  notes?: string[];
  label?: string;
  /**
   * Time every dispatch on the GPU (timestamp queries; `GpuContext.profiler`) where the adapter
   * has 'timestamp-query'. For benchmarks: it adds a query resolve and a readback per batch.
   */
  profile?: boolean;
  /** Compile pipelines with createComputePipelineAsync (default true). */
  asyncPipelines?: boolean;
  /**
   * The object that created the adapter (Dawn's GPU instance in Node), held for the device's
   * lifetime: dawn.node crashes the process if its instance is collected while a device lives.
   */
  owner?: unknown;
  /**
   * The device runs nothing (Dawn's null backend): what it maps back is uninitialised memory,
   * so readbacks return zeros, as WebGPU's zero-initialised buffers would hold, and code that
   * checks what it reads (token ids) sees values it can take.
   */
  executesNothing?: boolean;
}

/** Fired on the context when its device is lost; `reason` is GPUDeviceLostReason. */
export class DeviceLostEvent extends Event {
  constructor(
    readonly reason: string,
    readonly message: string,
  ) {
    super('devicelost');
  }
}

/**
 * One GPUDevice and what agentgpu keeps beside it: facts, buffer pool, pipeline cache, and
 * helpers to upload, dispatch and read back. Emits `devicelost` (DeviceLostEvent).
 */
export class GpuContext extends EventTarget {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  /** Resolves when the device is lost; rejects never. */
  readonly lost: Promise<DeviceLostEvent>;
  /** GPU time per kernel, when profiling was asked for and the device can. */
  readonly profiler: KernelProfiler | undefined;
  private readonly batches: BatchResources;
  private lostEvent: DeviceLostEvent | undefined;
  private readonly owner: unknown;
  private readonly executesNothing: boolean;

  private constructor(
    readonly device: GPUDevice,
    readonly facts: GpuFacts,
    shaders: ShaderSource,
    options: GpuContextOptions,
  ) {
    super();
    this.owner = options.owner;
    this.executesNothing = options.executesNothing ?? false;
    this.pipelines = new PipelineCache(device, shaders, options.asyncPipelines ?? true);
    this.profiler = device.features.has('timestamp-query') ? new KernelProfiler(device) : undefined;
    const counters = newCounters();
    this.pool = new BufferPool(device, facts.limits, undefined, counters);
    this.batches = new BatchResources(device, facts.limits, this.pool, counters, this.profiler);
    this.lost = device.lost.then((info) => {
      const event = new DeviceLostEvent(info.reason, info.message);
      this.lostEvent = event;
      this.dispatchEvent(event);
      return event;
    });
  }

  static async fromAdapter(
    adapter: GPUAdapter,
    shaders: ShaderSource,
    options: GpuContextOptions = {},
  ): Promise<GpuContext> {
    const want = options.features ?? {};
    const shaderF16 = adapter.features.has('shader-f16') && want.shaderF16 !== false;
    const subgroups = adapter.features.has('subgroups') && want.subgroups !== false;
    const packedIntegerDot =
      (options.wgslLanguageFeatures?.has('packed_4x8_integer_dot_product') ?? false) &&
      want.packedIntegerDot !== false;
    const requiredFeatures: GPUFeatureName[] = [];
    if (shaderF16) requiredFeatures.push('shader-f16');
    if (subgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
    if (options.profile && adapter.features.has('timestamp-query')) {
      requiredFeatures.push('timestamp-query');
    }
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({
        label: options.label ?? 'agentgpu',
        requiredFeatures,
        requiredLimits: requestedLimits(adapter),
      });
    } catch (cause) {
      throw new WebGpuUnavailableError(
        'device',
        `the WebGPU adapter refused to create a device (${String(cause)}): ` +
          'close other GPU-heavy tabs or apps and try again',
        { cause },
      );
    }
    const info = adapter.info;
    const text = `${info.vendor} ${info.architecture} ${info.description}`.toLowerCase();
    const facts: GpuFacts = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      software: options.tuneFor
        ? options.tuneFor === 'software'
        : text.includes('swiftshader') ||
          (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
      features: { shaderF16, subgroups, packedIntegerDot },
      subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
      subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
      limits: readLimits(device.limits),
      notes: options.notes ?? [],
    };
    return new GpuContext(device, facts, shaders, options);
  }

  /**
   * What this device's WebGPU calls have cost so far (submits, passes, dispatches, bind groups
   * and buffers created, bytes written and read back): subtract two readings for one step's.
   */
  get counters(): Readonly<GpuCounters> {
    return this.batches.counters;
  }

  /** Throws DeviceLostError when the device is gone, so work fails with the real reason. */
  assertAlive(): void {
    if (this.lostEvent) {
      throw new DeviceLostError(
        this.lostEvent.reason,
        `the GPU device was lost (${this.lostEvent.reason}: ${this.lostEvent.message}): ` +
          'create a new engine to continue',
      );
    }
  }

  async createBuffer(size: number, usage: GPUBufferUsageFlags, label: string): Promise<GPUBuffer> {
    this.assertAlive();
    const buffer = await allocateBuffer(this.device, this.facts.limits, { size, usage, label });
    this.batches.counters.buffersCreated++;
    return buffer;
  }

  /** A storage buffer holding `data` (also usable as a copy source and destination). */
  async upload(
    data: ArrayBufferView,
    label: string,
    usage = GPUBufferUsage.STORAGE,
  ): Promise<GPUBuffer> {
    const buffer = await this.createBuffer(
      alignTo(data.byteLength, 4),
      usage | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      label,
    );
    this.write(buffer, data);
    return buffer;
  }

  /** Writes `data` into `buffer` at `offset` bytes (padded to a multiple of 4). */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.batches.counters.writes++;
    this.batches.counters.bytesWritten += bytes.byteLength;
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buffer, offset, bytes);
    } else {
      const padded = new Uint8Array(alignTo(bytes.byteLength, 4));
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, offset, padded);
    }
  }

  /** Records work for one command buffer; see ComputeBatch. */
  batch(label: string): ComputeBatch {
    this.assertAlive();
    return new ComputeBatch(this.batches, label);
  }

  /** Copies `byteLength` bytes from `buffer` at `byteOffset` back to the CPU. */
  async read(
    buffer: GPUBuffer,
    byteOffset = 0,
    byteLength = buffer.size - byteOffset,
  ): Promise<ArrayBuffer> {
    return this.submitAndRead(this.batch('readback'), buffer, byteOffset, byteLength);
  }

  /**
   * Submits `batch` with a copy of `byteLength` bytes of `buffer` (at `byteOffset`) at its end,
   * and returns those bytes: work and readback in one submission (a decode step's token ids).
   */
  async submitAndRead(
    batch: ComputeBatch,
    buffer: GPUBuffer,
    byteOffset: number,
    byteLength: number,
  ): Promise<ArrayBuffer> {
    this.assertAlive();
    const size = alignTo(byteLength, 4);
    // From the pool: every step's token ids come back through the same staging buffer.
    const staging = await this.pool.acquire(
      size,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      `${buffer.label}:readback`,
    );
    let reusable = false;
    try {
      const { validated } = await batch.copy(buffer, byteOffset, staging, 0, size).send();
      // WebGPU's verdict on the work and the mapping, awaited together: one wait, not two.
      const mapped = Promise.race([
        staging.mapAsync(GPUMapMode.READ, 0, size),
        this.lost.then(() => this.assertAlive()),
      ]);
      try {
        await Promise.all([validated, mapped]);
      } catch (error) {
        await validated; // a validation error is the cause a failed mapping would hide
        // A destroyed device aborts the mapping, and its lost promise may settle just after:
        // give it a moment, so the error names the device, not the mapping.
        await Promise.race([this.lost, new Promise((resolve) => setTimeout(resolve, 250))]);
        this.assertAlive();
        throw error;
      }
      const bytes = this.executesNothing
        ? new ArrayBuffer(byteLength)
        : staging.getMappedRange(0, size).slice(0, byteLength);
      staging.unmap();
      reusable = true;
      this.batches.counters.bytesRead += byteLength;
      return bytes;
    } finally {
      if (reusable) this.pool.release(staging);
      else staging.destroy();
    }
  }

  /** Releases every GPU resource; the context cannot be used afterwards. */
  destroy(): void {
    this.pool.trim();
    this.device.destroy();
  }
}

export function alignTo(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
