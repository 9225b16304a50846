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

/**
 * Records dispatches and copies, then submits them as one command buffer. Each dispatch's params
 * struct goes into one shared uniform buffer (at aligned offsets) allocated at submit, so a whole
 * decode step costs one uniform allocation and one queue submission.
 *
 * Binding convention, for every kernel: @binding(0) is the params uniform, storage buffers follow
 * in order from @binding(1).
 */
export class ComputeBatch {
  private readonly ops: Op[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly limits: GpuLimits,
    private readonly pool: BufferPool,
    readonly label: string,
    /** Times every dispatch with timestamp queries (GpuContextOptions.profile). */
    private readonly profiler?: KernelProfiler,
  ) {}

  dispatch(
    pipeline: GPUComputePipeline,
    params: ArrayBufferView,
    bindings: readonly Binding[],
    grid: readonly [number, number?, number?],
  ): this {
    const max = this.limits.maxComputeWorkgroupsPerDimension;
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
    const align = this.limits.minUniformBufferOffsetAlignment;
    let uniformBytes = 0;
    const offsets = this.ops.map((op) => {
      if (op.kind !== 'dispatch') return 0;
      const offset = uniformBytes;
      uniformBytes += Math.ceil(op.params.byteLength / align) * align;
      return offset;
    });
    const uniform =
      uniformBytes > 0
        ? await this.pool.acquire(
            uniformBytes,
            GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
            `${this.label}:params`,
          )
        : undefined;

    this.device.pushErrorScope('validation');
    const encoder = this.device.createCommandEncoder({ label: this.label });
    const kernels = this.ops.flatMap((op) => (op.kind === 'dispatch' ? [op.pipeline.label] : []));
    // Copies alone (readbacks) have nothing to time.
    const timing = kernels.length > 0 ? this.profiler?.begin(kernels) : undefined;
    let dispatches = 0;
    this.ops.forEach((op, index) => {
      if (op.kind === 'copy') {
        encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.size);
        return;
      }
      this.device.queue.writeBuffer(uniform!, offsets[index], op.params);
      const bindGroup = this.device.createBindGroup({
        label: op.pipeline.label,
        layout: op.pipeline.getBindGroupLayout(0),
        entries: [
          {
            binding: 0,
            resource: { buffer: uniform!, offset: offsets[index], size: op.params.byteLength },
          },
          ...op.bindings.map((b, i) => ({
            binding: i + 1,
            resource: 'buffer' in b ? b : { buffer: b },
          })),
        ],
      });
      const pass = encoder.beginComputePass({
        label: op.pipeline.label,
        timestampWrites: timing?.writes(dispatches++),
      });
      pass.setPipeline(op.pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(...op.grid);
      pass.end();
    });
    timing?.resolve(encoder);
    this.device.queue.submit([encoder.finish()]);
    timing?.collect();
    this.ops.length = 0;
    const error = await this.device.popErrorScope();
    if (uniform) {
      const pool = this.pool;
      this.device.queue.onSubmittedWorkDone().then(
        () => pool.release(uniform),
        () => uniform.destroy(),
      );
    }
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
