import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuValidationError } from '../errors.js';
import { Elementwise } from '../kernels/elementwise.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { StepRecordings, type GpuCounters } from './batch.js';
import type { GpuContext } from './context.js';

// What a batch costs in WebGPU calls, and that reusing state across submits changes no result:
// the same step recorded twice creates nothing the second time, writes its params once, and
// takes one compute pass per run of dispatches between copies.
describe('ComputeBatch', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await acquireNodeGpu();
  });
  afterAll(() => gpu?.destroy());

  const since = (before: GpuCounters): GpuCounters =>
    Object.fromEntries(
      Object.entries(gpu.counters).map(([k, v]) => [k, v - before[k as keyof GpuCounters]]),
    ) as unknown as GpuCounters;

  it('reuses its bind groups and params buffer from one submit to the next', async () => {
    const n = 1000;
    const add = await Elementwise.load(gpu, 'add');
    const values = Float32Array.from({ length: n }, (_, i) => i);
    const a = await gpu.upload(values, 'a', GPUBufferUsage.STORAGE);
    const b = await gpu.upload(values, 'b', GPUBufferUsage.STORAGE);
    const c = await gpu.upload(new Float32Array(n), 'c', GPUBufferUsage.STORAGE);
    const d = await gpu.upload(new Float32Array(n), 'd', GPUBufferUsage.STORAGE);
    // c = a + a; d = c + c; copy d into c; b = c + a  =>  b = 4a + a = 5a
    const step = (last = n) => {
      const batch = gpu.batch('step');
      add.encode(batch, { a, b: a, out: c, n });
      add.encode(batch, { a: c, b: c, out: d, n });
      batch.copy(d, 0, c, 0, n * 4);
      add.encode(batch, { a: c, b: a, out: b, n: last });
      return batch.submit();
    };
    await step();
    let before = { ...gpu.counters };
    await step();
    expect(since(before)).toMatchObject({
      submits: 1,
      dispatches: 3,
      computePasses: 2, // the copy ends the first
      bindGroupsCreated: 0,
      buffersCreated: 0,
      writes: 0, // the params buffer already holds these params
    });
    const out = new Float32Array(await gpu.read(b));
    expect([...out.subarray(0, 4)]).toEqual([0, 5, 10, 15]);
    expect(out[n - 1]).toBe(5 * (n - 1));
    // One param moved: one write, of the bytes around it.
    gpu.write(b, new Float32Array(n));
    before = { ...gpu.counters };
    await step(n - 1);
    expect(since(before)).toMatchObject({ writes: 1, bindGroupsCreated: 0 });
    expect(since(before).bytesWritten).toBeLessThanOrEqual(16);
    const shorter = new Float32Array(await gpu.read(b));
    expect(shorter[n - 2]).toBe(5 * (n - 2));
    expect(shorter[n - 1]).toBe(0);
    for (const buffer of [a, b, c, d]) buffer.destroy();
  });

  it('replays a recording without recording again, with the same results', async () => {
    const n = 256;
    const add = await Elementwise.load(gpu, 'add');
    const a = await gpu.upload(new Float32Array(n).fill(1), 'a', GPUBufferUsage.STORAGE);
    const b = await gpu.upload(new Float32Array(n), 'b', GPUBufferUsage.STORAGE);
    const c = await gpu.upload(new Float32Array(n), 'c', GPUBufferUsage.STORAGE);
    const recordings = new StepRecordings();
    let recorded = 0;
    const step = async () => {
      const batch = gpu.batch('step');
      await batch.replay(recordings, 'b += a', async () => {
        recorded++;
        add.encode(batch, { a: b, b: a, out: c, n });
        batch.copy(c, 0, b, 0, n * 4);
      });
      await batch.submit();
    };
    await step();
    const before = { ...gpu.counters };
    await step();
    await step();
    expect(recorded).toBe(1);
    expect(since(before)).toMatchObject({ dispatches: 2, bindGroupsCreated: 0, writes: 0 });
    expect(new Float32Array(await gpu.read(b))[n - 1]).toBe(3);
    for (const buffer of [a, b, c]) buffer.destroy();
  });

  it('still rejects work WebGPU refuses, with the reason', async () => {
    const add = await Elementwise.load(gpu, 'add');
    const small = await gpu.upload(new Float32Array(4), 'small', GPUBufferUsage.STORAGE);
    const mapped = await gpu.createBuffer(
      16,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      'x',
    );
    const batch = gpu.batch('bad');
    // A MAP_READ buffer cannot be bound as storage.
    add.encode(batch, { a: small, b: small, out: mapped, n: 4 });
    await expect(batch.submit()).rejects.toThrow(GpuValidationError);
    small.destroy();
    mapped.destroy();
  });
});
