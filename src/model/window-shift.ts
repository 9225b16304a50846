import type { ComputeBatch } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { KvShift, type AttentionConfig } from '../kernels/attention.js';
import type { Rope } from '../kernels/rope.js';
import type { RopeConfig } from '../kernels/rope-angles.js';
import type { Layer } from './layers.js';

// A sliding window's context shift (llama.cpp's): when tokens leave a sequence's window, the
// keys kept after them are rotated back by the count that left, in every layer, so positions
// stay cache indices and generation goes on in constant memory.

export class WindowShift {
  private constructor(
    private readonly gpu: GpuContext,
    private readonly kernel: KvShift,
    /** The keys' RoPE, whose angles the rotation takes. */
    private readonly rope: Rope,
    private readonly freqFactors: Float32Array | undefined,
    /** Per step entry: the cos/sin its keys turn by, and the blocks to turn. */
    private readonly angles: GPUBuffer,
    private readonly blocks: GPUBuffer,
    private readonly strides: { angles: number; blocks: number },
  ) {}

  /** For up to `entries` step entries, each shifting up to `maxBlocks` blocks. */
  static async load(
    gpu: GpuContext,
    shape: { attention: AttentionConfig; rope: RopeConfig; entries: number; maxBlocks: number },
    rope: Rope,
    freqFactors: Float32Array | undefined,
    built: <T>(kernel: Promise<T>) => Promise<T>,
  ): Promise<WindowShift> {
    const kernel = await built(KvShift.load(gpu, { ...shape.attention, ...shape.rope }));
    // Bytes between entries' angles, and block lists: storage offsets must align.
    const align = gpu.facts.limits.minStorageBufferOffsetAlignment;
    const aligned = (bytes: number) => Math.ceil(bytes / align) * align;
    const strides = {
      angles: aligned(shape.rope.ropeDims * 4),
      blocks: aligned(shape.maxBlocks * 4),
    };
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
    const angles = await gpu.createBuffer(shape.entries * strides.angles, usage, 'kv:shift_angles');
    try {
      const blocks = await gpu.createBuffer(
        shape.entries * strides.blocks,
        usage,
        'kv:shift_blocks',
      );
      return new WindowShift(gpu, kernel, rope, freqFactors, angles, blocks, strides);
    } catch (error) {
      angles.destroy();
      throw error;
    }
  }

  /** Every layer's cached K in `blocks` rotated back by `delta` positions (entry `slot`'s rows). */
  encode(
    batch: ComputeBatch,
    layers: readonly Layer[],
    slot: number,
    delta: number,
    blocks: readonly number[],
  ): void {
    // A pure rotation by -delta: the angles' cos and sin without YaRN's magnitude scale.
    const angles = this.rope.cache([-delta], this.freqFactors);
    for (let i = 0; i < angles.length; i += 2) {
      const norm = Math.hypot(angles[i], angles[i + 1]);
      angles[i] /= norm;
      angles[i + 1] /= norm;
    }
    const at = (buffer: GPUBuffer, stride: number, bytes: number) => ({
      buffer,
      offset: slot * stride,
      size: bytes,
    });
    const angleRows = at(this.angles, this.strides.angles, angles.byteLength);
    const blockList = at(this.blocks, this.strides.blocks, blocks.length * 4);
    this.gpu.write(this.angles, angles, angleRows.offset);
    this.gpu.write(this.blocks, Uint32Array.from(blocks), blockList.offset);
    for (const layer of layers) {
      this.kernel.encode(batch, {
        cache: layer.kCache,
        blocks: blockList,
        angles: angleRows,
        count: blocks.length,
      });
    }
  }

  destroy(): void {
    this.angles.destroy();
    this.blocks.destroy();
  }
}
