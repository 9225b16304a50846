// GPU time per kernel, from timestamp queries written at the start and end of each dispatch's
// compute pass (every dispatch has a pass of its own: see ComputeBatch). Needs the device's
// 'timestamp-query' feature (GpuContextOptions.profile asks for it). Readback is in the
// background: `report()` waits for what was submitted.

/** The most queries one query set may hold (WebGPU's limit). */
const QUERIES_PER_SET = 4096;

export interface KernelTime {
  /** The kernel's pipeline label (its shader's name). */
  kernel: string;
  dispatches: number;
  /** GPU time over all its dispatches, ms. */
  ms: number;
  /** Its part of the GPU time of every kernel profiled, 0..1. */
  share: number;
}

/** One submission's timestamps: begun before encoding, collected after submit. */
export interface ProfiledSubmission {
  writes(dispatch: number): GPUComputePassTimestampWrites;
  /** Encodes the resolve and copy into `encoder` (after the last pass). */
  resolve(encoder: GPUCommandEncoder): void;
  /** After submit: reads the timestamps back in the background. */
  collect(): void;
}

export class KernelProfiler {
  private readonly totals = new Map<string, { ns: number; dispatches: number }>();
  private pending: Promise<void>[] = [];

  constructor(private readonly device: GPUDevice) {}

  /** Timestamps for a submission whose dispatches' kernels are `labels` (at least one), in order. */
  begin(labels: readonly string[]): ProfiledSubmission {
    const queries = 2 * labels.length;
    const sets = Array.from({ length: Math.ceil(queries / QUERIES_PER_SET) }, (_, i) =>
      this.device.createQuerySet({
        type: 'timestamp',
        count: Math.min(QUERIES_PER_SET, queries - i * QUERIES_PER_SET),
      }),
    );
    const bytes = queries * 8;
    const resolved = this.device.createBuffer({
      label: 'profiler:resolve',
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const readback = this.device.createBuffer({
      label: 'profiler:readback',
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const release = () => {
      for (const set of sets) set.destroy();
      resolved.destroy();
      readback.destroy();
    };
    return {
      writes: (dispatch) => {
        const first = 2 * dispatch;
        const set = Math.floor(first / QUERIES_PER_SET);
        return {
          querySet: sets[set],
          beginningOfPassWriteIndex: first % QUERIES_PER_SET,
          endOfPassWriteIndex: (first % QUERIES_PER_SET) + 1,
        };
      },
      resolve: (encoder) => {
        sets.forEach((set, i) =>
          encoder.resolveQuerySet(set, 0, set.count, resolved, i * QUERIES_PER_SET * 8),
        );
        encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
      },
      collect: () => {
        const done = readback.mapAsync(GPUMapMode.READ).then(() => {
          const stamps = new BigUint64Array(readback.getMappedRange().slice(0));
          labels.forEach((kernel, i) => {
            const ns = Number(stamps[2 * i + 1] - stamps[2 * i]);
            const total = this.totals.get(kernel) ?? { ns: 0, dispatches: 0 };
            // A timestamp pair out of order (some drivers reset the counter) counts as 0.
            total.ns += Math.max(0, ns);
            total.dispatches++;
            this.totals.set(kernel, total);
          });
          release();
        }, release);
        this.pending.push(done);
      },
    };
  }

  /** GPU time per kernel since the last reset, the largest first. */
  async report(): Promise<KernelTime[]> {
    const pending = this.pending;
    this.pending = [];
    await Promise.all(pending);
    const all = [...this.totals.values()].reduce((sum, t) => sum + t.ns, 0);
    return [...this.totals]
      .map(([kernel, t]) => ({
        kernel,
        dispatches: t.dispatches,
        ms: t.ns / 1e6,
        share: all > 0 ? t.ns / all : 0,
      }))
      .sort((a, b) => b.ms - a.ms);
  }

  /** Forgets the times so far (waits for those still being read). */
  async reset(): Promise<void> {
    await this.report();
    this.totals.clear();
  }
}
