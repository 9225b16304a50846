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
      /** The bind group it last ran with, and where its params were then (replayed ops). */
      bound?: { params: GPUBuffer; offset: number; group: GPUBindGroup };
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

/** Recordings kept before they start over (a decode step's shapes: sequences x splits). */
const MAX_RECORDINGS = 64;

/**
 * Runs of recorded work by key, for ComputeBatch.replay: a decode step's dispatches recorded
 * once per shape, each keeping its bind group. Held by whoever owns the buffers they bind.
 */
export class StepRecordings {
  private readonly byKey = new Map<string, readonly Op[]>();

  get(key: string): readonly Op[] | undefined {
    return this.byKey.get(key);
  }

  set(key: string, ops: readonly Op[]): void {
    if (this.byKey.size >= MAX_RECORDINGS) this.byKey.clear();
    this.byKey.set(key, ops);
  }
}

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
  /** What the params buffer holds (every write to it goes through writeParams). */
  private mirror = new Uint8Array(0);
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
    // A pooled buffer may hold anything: zero it, so the mirror tells the truth from the start.
    this.mirror = new Uint8Array(this.params.size);
    this.device.queue.writeBuffer(this.params, 0, this.mirror);
    // Work already submitted may still read the old one.
    if (old) void this.device.queue.onSubmittedWorkDone().finally(() => this.pool.release(old));
    return this.params;
  }

  /**
   * Puts each dispatch's params at its offset in the params buffer, writing only the span that
   * differs from what the buffer already holds: a decode step recorded as the last one writes
   * nothing (or the few params that moved).
   */
  writeParams(ops: readonly Op[], offsets: readonly number[]): void {
    const mirror = this.mirror;
    let first = mirror.length;
    let end = 0;
    ops.forEach((op, i) => {
      if (op.kind !== 'dispatch') return;
      const { params } = op;
      const at = offsets[i];
      for (let b = 0; b < params.length; b++) {
        if (mirror[at + b] !== params[b]) {
          first = Math.min(first, at + b);
          end = Math.max(end, at + params.length);
          mirror.set(params, at);
          break;
        }
      }
    });
    if (end <= first) return;
    // writeBuffer takes whole words.
    first &= ~3;
    end = Math.ceil(end / 4) * 4;
    this.device.queue.writeBuffer(this.params!, first, mirror, first, end - first);
    this.counters.writes++;
    this.counters.bytesWritten += end - first;
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

  /**
   * What `record` adds to the batch, recorded under `key` the first time and replayed after:
   * the same dispatches (params, bindings, grids) without running `record` again. The caller
   * keys by everything the recording depends on; what changes per step must be read by the
   * kernels from buffers (written before submit), not baked into params.
   */
  async replay(
    recordings: StepRecordings,
    key: string,
    record: () => Promise<void>,
  ): Promise<void> {
    const kept = recordings.get(key);
    if (kept) {
      for (const op of kept) this.ops.push(op);
      return;
    }
    const start = this.ops.length;
    await record();
    recordings.set(key, this.ops.slice(start));
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): this {
    this.ops.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
    return this;
  }

  /** Encodes and submits everything recorded; rejects with GpuValidationError if WebGPU objects. */
  async submit(): Promise<void> {
    await (
      await this.send()
    ).validated;
  }

  /**
   * Encodes and submits everything recorded. Resolves once the work is on the queue, with
   * `validated` still to settle (WebGPU's verdict, GpuValidationError if it objects): a caller
   * waits for it beside its readback rather than before it. Await `validated`.
   */
  async send(): Promise<{ validated: Promise<void> }> {
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
    if (params) this.resources.writeParams(ops, offsets);

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
      if (op.pipeline !== pipeline) pass.setPipeline((pipeline = op.pipeline));
      // A replayed op whose params sit where they did last time: its bind group, no lookup.
      const offset = offsets[index];
      let bound = op.bound;
      if (!bound || bound.params !== params || bound.offset !== offset) {
        const size = op.params.byteLength;
        const group = this.resources.bindGroup(op.pipeline, params!, offset, size, op.bindings);
        op.bound = bound = { params: params!, offset, group };
      }
      pass.setBindGroup(0, bound.group);
      pass.dispatchWorkgroups(...op.grid);
      dispatches++;
    });
    pass?.end();
    timing?.resolve(encoder);
    device.queue.submit([encoder.finish()]);
    counters.submits++;
    counters.dispatches += dispatches;
    timing?.collect();
    const validated = device.popErrorScope().then((error) => {
      if (error)
        throw new GpuValidationError(`${this.label}: WebGPU rejected the work: ${error.message}`);
    });
    return { validated };
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
