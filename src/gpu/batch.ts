import { GpuValidationError } from '../errors.js';
import type { BufferPool } from './buffer-pool.js';
import type { GpuLimits } from './facts.js';
import type { KernelProfiler } from './profiler.js';

/** A storage binding: a whole buffer, or a byte range of one (offsets aligned to 256). */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

type Op =
  | {
      kind: 'dispatch';
      pipeline: GPUComputePipeline;
      params: Uint8Array;
      bindings: readonly Binding[];
      grid: readonly [number, number, number];
    }
  | {
      kind: 'copy';
      src: GPUBuffer;
      srcOffset: number;
      dst: GPUBuffer;
      dstOffset: number;
      size: number;
    };

/** What one device's WebGPU calls have cost so far: the per-step figures bench:host prints. */
export interface GpuCounters {
  submits: number;
  computePasses: number;
  dispatches: number;
  bindGroupsCreated: number;
  buffersCreated: number;
  /** queue.writeBuffer calls, and their bytes. */
  writes: number;
  bytesWritten: number;
  bytesRead: number;
}

export function newCounters(): GpuCounters {
  return {
    submits: 0,
    computePasses: 0,
    dispatches: 0,
    bindGroupsCreated: 0,
    buffersCreated: 0,
    writes: 0,
    bytesWritten: 0,
    bytesRead: 0,
  };
}

/** Bind groups kept before the cache starts over (a decode step uses a few hundred). */
const MAX_BIND_GROUPS = 8192;

/**
 * What a device's batches keep from one submit to the next, so a decode step recorded the same
 * way as the last creates nothing: one params buffer (each submit writes its dispatches' params
 * there at the same offsets, in one write), each pipeline's bind group layout, and the bind
 * groups themselves, found again by what they bind.
 *
 * One params buffer serves every batch: queue.writeBuffer and submit are queue operations, run in
 * the order they are called, and a submit writes and submits with no await between, so a step's
 * params are in place when its work runs and a later step's write waits for it.
 */
export class BatchResources {
  private params: GPUBuffer | undefined;
  private readonly layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 0;

  constructor(
    readonly device: GPUDevice,
    readonly limits: GpuLimits,
    readonly pool: BufferPool,
    readonly counters: GpuCounters,
    /** Times every dispatch with timestamp queries (GpuContextOptions.profile). */
    readonly profiler?: KernelProfiler,
  ) {}

  /** The params buffer, grown (and the bind groups over the old one forgotten) to `bytes`. */
  async paramsBuffer(bytes: number): Promise<GPUBuffer> {
    if (this.params && this.params.size >= bytes) return this.params;
    const old = this.params;
    this.params = await this.pool.acquire(
      Math.max(bytes, 64 * 1024),
      GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      'batch:params',
    );
    this.bindGroups.clear();
    // Work already submitted may still read the old one.
    if (old) void this.device.queue.onSubmittedWorkDone().finally(() => this.pool.release(old));
    return this.params;
  }

  /** The bind group of a dispatch: made once per pipeline, params range and bindings. */
  bindGroup(
    pipeline: GPUComputePipeline,
    params: GPUBuffer,
    offset: number,
    size: number,
    bindings: readonly Binding[],
  ): GPUBindGroup {
    let key = `${this.id(pipeline)}@${offset}+${size}`;
    for (const b of bindings) {
      key +=
        'buffer' in b ? `|${this.id(b.buffer)}@${b.offset ?? 0}+${b.size ?? ''}` : `|${this.id(b)}`;
    }
    let group = this.bindGroups.get(key);
    if (group) return group;
    let layout = this.layouts.get(pipeline);
    if (!layout) this.layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
    group = this.device.createBindGroup({
      label: pipeline.label,
      layout,
      entries: [
        { binding: 0, resource: { buffer: params, offset, size } },
        ...bindings.map((b, i) => ({
          binding: i + 1,
          resource: 'buffer' in b ? b : { buffer: b },
        })),
      ],
    });
    this.counters.bindGroupsCreated++;
    // Bind groups over buffers since destroyed are never asked for again: start over now and
    // then rather than track every buffer's end.
    if (this.bindGroups.size >= MAX_BIND_GROUPS) this.bindGroups.clear();
    this.bindGroups.set(key, group);
    return group;
  }

  private id(object: object): number {
    let id = this.ids.get(object);
    if (id === undefined) this.ids.set(object, (id = this.nextId++));
    return id;
  }
}

/**
 * Records dispatches and copies, then submits them as one command buffer: one write of every
 * dispatch's params struct (into BatchResources' params buffer, at aligned offsets), one compute
 * pass for each run of dispatches between copies, bind groups reused from earlier submits. So a
 * decode step is one write, one pass and one submit, and after the first step creates nothing.
 * (Profiling gives each dispatch a pass of its own, for its timestamps.)
 *
 * Binding convention, for every kernel: @binding(0) is the params uniform, storage buffers follow
 * in order from @binding(1).
 */
export class ComputeBatch {
  private readonly ops: Op[] = [];

  constructor(
    private readonly resources: BatchResources,
    readonly label: string,
  ) {}

  dispatch(
    pipeline: GPUComputePipeline,
    params: ArrayBufferView,
    bindings: readonly Binding[],
    grid: readonly [number, number?, number?],
  ): this {
    const max = this.resources.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = grid;
    if (x > max || y > max || z > max) {
      throw new GpuValidationError(
        `${pipeline.label}: grid ${x}x${y}x${z} exceeds ${max} workgroups per dimension ` +
          '(the kernel wrapper should have split it with workgroupGrid)',
      );
    }
    const bytes = new Uint8Array(params.buffer, params.byteOffset, params.byteLength).slice();
    this.ops.push({ kind: 'dispatch', pipeline, params: bytes, bindings, grid: [x, y, z] });
    return this;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): this {
    this.ops.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
    return this;
  }

  /** Encodes and submits everything recorded; rejects with GpuValidationError if WebGPU objects. */
  async submit(): Promise<void> {
    const { device, counters, profiler } = this.resources;
    const align = this.resources.limits.minUniformBufferOffsetAlignment;
    const ops = this.ops.splice(0);
    let paramBytes = 0;
    const offsets = ops.map((op) => {
      if (op.kind !== 'dispatch') return 0;
      const offset = paramBytes;
      paramBytes += Math.ceil(op.params.byteLength / align) * align;
      return offset;
    });
    const params = paramBytes > 0 ? await this.resources.paramsBuffer(paramBytes) : undefined;
    // From here to submit, nothing awaits: no other batch's write comes between.
    if (params) {
      const staging = new Uint8Array(paramBytes);
      ops.forEach((op, i) => op.kind === 'dispatch' && staging.set(op.params, offsets[i]));
      device.queue.writeBuffer(params, 0, staging);
      counters.writes++;
      counters.bytesWritten += paramBytes;
    }

    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: this.label });
    const kernels = ops.flatMap((op) => (op.kind === 'dispatch' ? [op.pipeline.label] : []));
    // Copies alone (readbacks) have nothing to time.
    const timing = kernels.length > 0 ? profiler?.begin(kernels) : undefined;
    let pass: GPUComputePassEncoder | undefined;
    // A pass keeps its pipeline between dispatches: set it only when it changes.
    let pipeline: GPUComputePipeline | undefined;
    let dispatches = 0;
    ops.forEach((op, index) => {
      if (op.kind === 'copy') {
        pass?.end();
        pass = undefined;
        encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.size);
        return;
      }
      if (!pass || timing) {
        pass?.end();
        pass = encoder.beginComputePass({
          label: timing ? op.pipeline.label : this.label,
          timestampWrites: timing?.writes(dispatches),
        });
        counters.computePasses++;
        pipeline = undefined;
      }
      const size = op.params.byteLength;
      if (op.pipeline !== pipeline) pass.setPipeline((pipeline = op.pipeline));
      pass.setBindGroup(
        0,
        this.resources.bindGroup(op.pipeline, params!, offsets[index], size, op.bindings),
      );
      pass.dispatchWorkgroups(...op.grid);
      dispatches++;
    });
    pass?.end();
    timing?.resolve(encoder);
    device.queue.submit([encoder.finish()]);
    counters.submits++;
    counters.dispatches += dispatches;
    timing?.collect();
    const error = await device.popErrorScope();
    if (error)
      throw new GpuValidationError(`${this.label}: WebGPU rejected the work: ${error.message}`);
  }
}

/**
 * Spreads `count` workgroups over x and y so no dimension passes the device limit. Shaders
 * recover the flat index as `wg.x + wg.y * num_workgroups.x` and skip indices >= count.
 */
export function workgroupGrid(count: number, maxPerDimension: number): [number, number] {
  if (count <= maxPerDimension) return [Math.max(count, 1), 1];
  const y = Math.ceil(count / maxPerDimension);
  if (y > maxPerDimension) {
    throw new GpuValidationError(`${count} workgroups exceed ${maxPerDimension}² for one dispatch`);
  }
  return [Math.ceil(count / y), y];
}
