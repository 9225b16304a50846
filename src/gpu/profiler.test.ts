import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Copy, PeakFlops } from '../kernels/testing/ceilings.js';
import { acquireNodeGpu } from '../node/gpu.js';
import type { GpuContext } from './context.js';

// Timestamp queries around every dispatch: per kernel, the dispatches counted and GPU time
// that grows with the work (a copy of 64x the bytes takes longer: by how much is left alone,
// since SwiftShader's timestamps run on CPUs other jobs share; 4x failed under load).
describe('KernelProfiler', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await acquireNodeGpu({ profile: true });
  });
  afterAll(() => gpu?.destroy());

  it('is there only when asked for', async () => {
    const plain = await acquireNodeGpu();
    try {
      expect(plain.profiler).toBeUndefined();
      expect(plain.device.features.has('timestamp-query')).toBe(false);
    } finally {
      plain.destroy();
    }
  });

  it('times each kernel of a batch and counts its dispatches', async (context) => {
    if (!gpu.profiler) return context.skip(); // an adapter without timestamp-query
    const copy = await Copy.load(gpu);
    const flops = await PeakFlops.load(gpu);
    const big = 64 << 20;
    const small = 1 << 20;
    const usage = GPUBufferUsage.STORAGE;
    const [a, b] = await Promise.all([
      gpu.createBuffer(big, usage, 'a'),
      gpu.createBuffer(big, usage, 'b'),
    ]);
    try {
      const time = async (bytes: number) => {
        await gpu.profiler!.reset();
        const batch = gpu.batch('profiled');
        for (let i = 0; i < 3; i++) copy.encode(batch, a, b, bytes);
        flops.encode(batch, b, 1, 1);
        await batch.submit();
        return gpu.profiler!.report();
      };
      const smallRun = await time(small);
      const bigRun = await time(big);
      const kernel = (run: typeof smallRun, family: string) =>
        run.find((k) => k.kernel.startsWith(`${family}_`))!;
      expect(kernel(smallRun, 'copy').dispatches).toBe(3);
      expect(kernel(smallRun, 'flops').dispatches).toBe(1);
      expect(bigRun.reduce((sum, k) => sum + k.share, 0)).toBeCloseTo(1, 6);
      expect(kernel(bigRun, 'copy').ms).toBeGreaterThan(kernel(smallRun, 'copy').ms);
      expect(bigRun[0].kernel).toMatch(/^copy_/);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});
