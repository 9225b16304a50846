import type { Binding } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';

/** The parts of StepData, in the order they lie in its buffer. */
export type StepParts = 'table' | 'ids' | 'last' | 'queries' | 'rope' | 'ropeLocal';
const STEP_PARTS: readonly StepParts[] = ['table', 'ids', 'last', 'queries', 'rope', 'ropeLocal'];

/**
 * What changes from one step to the next, in one buffer written with one writeBuffer per step:
 * the entries' block tables, the token ids, the row of each entry's last token (whose logits a
 * prefill step keeps), the query rows (table offset and cache index per
 * row, Attention.queryInfo) and the RoPE angles per row (and the local layers' own, when their
 * RoPE differs: Gemma 3's). Each part has a fixed, aligned range
 * with a binding made once, so a step's bind groups are the last step's.
 */
export class StepData {
  private constructor(
    private readonly gpu: GpuContext,
    private readonly buffer: GPUBuffer,
    private readonly offsets: Record<StepParts, number>,
    readonly table: Binding,
    readonly ids: Binding,
    readonly last: Binding,
    readonly queries: Binding,
    readonly rope: Binding,
    readonly ropeLocal: Binding,
  ) {}

  static async create(gpu: GpuContext, sizes: Record<StepParts, number>): Promise<StepData> {
    const align = gpu.facts.limits.minStorageBufferOffsetAlignment;
    const offsets = {} as Record<StepParts, number>;
    let end = 0;
    for (const part of STEP_PARTS) {
      offsets[part] = end;
      end = Math.ceil((end + Math.max(sizes[part], 4)) / align) * align;
    }
    const buffer = await gpu.createBuffer(
      end,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
      'step',
    );
    const at = (part: StepParts) => ({ buffer, offset: offsets[part], size: sizes[part] });
    return new StepData(
      gpu,
      buffer,
      offsets,
      at('table'),
      at('ids'),
      at('last'),
      at('queries'),
      at('rope'),
      at('ropeLocal'),
    );
  }

  /**
   * One step's parts in one write, up to the end of the RoPE angles' data; the local layers'
   * angles (Gemma 3 only) in a second, so no step writes the unused rows reserved between.
   */
  write(parts: Record<StepParts, Uint32Array | Float32Array>): void {
    const bytes = new Uint8Array(this.offsets.rope + parts.rope.byteLength);
    for (const part of STEP_PARTS) {
      if (part === 'ropeLocal') continue;
      const data = parts[part];
      bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.offsets[part]);
    }
    this.gpu.write(this.buffer, bytes);
    if (parts.ropeLocal.byteLength > 0) {
      this.gpu.write(this.buffer, parts.ropeLocal, this.offsets.ropeLocal);
    }
  }

  destroy(): void {
    this.buffer.destroy();
  }
}
