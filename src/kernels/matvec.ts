import type { Binding, ComputeBatch } from '../gpu/batch.js';
import { workgroupGrid } from '../gpu/batch.js';
import type { GpuContext } from '../gpu/context.js';
import { ROW_REDUCE_WORKGROUP } from './tuning.js';
import { loadRowReduce, type KernelOptions, type RowReducePipeline } from './variant.js';

/** x (cols,), w (rows, cols) row-major f32 -> out (rows,). */
export interface MatvecArgs {
  w: Binding;
  x: Binding;
  out: Binding;
  rows: number;
  cols: number;
}

/** shaders/matvec.wgsl: decode-time matrix-vector product, one workgroup per output row. */
export class Matvec {
  private constructor(readonly variant: RowReducePipeline) {}

  static async load(gpu: GpuContext, options?: KernelOptions): Promise<Matvec> {
    return new Matvec(await loadRowReduce(gpu, 'matvec', ROW_REDUCE_WORKGROUP, options));
  }

  /** Field for field with `struct Params` in matvec.wgsl. */
  static params(rows: number, cols: number): Uint32Array {
    return new Uint32Array([rows, cols, 0, 0]);
  }

  encode(batch: ComputeBatch, { w, x, out, rows, cols }: MatvecArgs): void {
    const { pipeline, maxWorkgroups } = this.variant;
    batch.dispatch(
      pipeline,
      Matvec.params(rows, cols),
      [w, x, out],
      workgroupGrid(rows, maxWorkgroups),
    );
  }
}
