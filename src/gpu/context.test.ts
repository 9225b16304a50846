import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError, GpuAllocationError, ShaderError } from '../errors.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { checkMatvec, checkRmsNorm } from '../kernels/checks/index.js';
import { pipelineKey } from '../kernels/variant.js';
import { workgroupGrid } from './batch.js';
import { BufferPool } from './buffer-pool.js';
import { PipelineCache } from './pipeline-cache.js';
import { tableShaderSource } from './shader-library.js';
import { DeviceLostEvent, type GpuContext } from './context.js';

describe('GpuContext on Dawn', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await acquireNodeGpu();
  });
  afterAll(() => gpu?.destroy());

  it('reports the adapter, the features it enabled and the limits it asked for', () => {
    const { facts } = gpu;
    expect(facts.vendor.length + facts.architecture.length).toBeGreaterThan(0);
    expect(typeof facts.features.shaderF16).toBe('boolean');
    expect(typeof facts.features.subgroups).toBe('boolean');
    expect(facts.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
    expect(facts.limits.maxComputeWorkgroupsPerDimension).toBeGreaterThanOrEqual(65535);
    expect(gpu.device.features.has('subgroups')).toBe(facts.features.subgroups);
    expect(gpu.device.features.has('shader-f16')).toBe(facts.features.shaderF16);
    if (facts.software) expect(facts.notes.join(' ')).toMatch(/SwiftShader/);
  });

  it('uploads and reads back bytes exactly, odd lengths included', async () => {
    const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
    const buffer = await gpu.upload(data, 'odd');
    expect([...new Uint8Array(await gpu.read(buffer, 0, 7))]).toEqual([...data]);
    expect([...new Uint8Array(await gpu.read(buffer, 4, 3))]).toEqual([5, 6, 7]);
    buffer.destroy();
  });

  it('pools buffers by size class and reuses released ones', async () => {
    expect(BufferPool.sizeClass(1)).toBe(256);
    expect(BufferPool.sizeClass(1000)).toBe(1024);
    expect(BufferPool.sizeClass(17 * 1024 * 1024 + 1)).toBe(18 * 1024 * 1024);
    const usage = GPUBufferUsage.STORAGE;
    const a = await gpu.pool.acquire(1000, usage, 'a');
    expect(a.size).toBe(1024);
    gpu.pool.release(a);
    const b = await gpu.pool.acquire(900, usage, 'b');
    expect(b).toBe(a);
    const c = await gpu.pool.acquire(900, usage, 'c');
    expect(c).not.toBe(a);
    gpu.pool.release(b);
    gpu.pool.release(c);
  });

  it('refuses a buffer over maxBufferSize with a message that says what to do', async () => {
    const tooBig = gpu.facts.limits.maxBufferSize + 4;
    await expect(gpu.createBuffer(tooBig, GPUBufferUsage.STORAGE, 'weights')).rejects.toThrow(
      GpuAllocationError,
    );
    await expect(gpu.createBuffer(tooBig, GPUBufferUsage.STORAGE, 'weights')).rejects.toThrow(
      /buffer "weights" needs .* but this adapter allows at most .*: pick a smaller model or quantization/,
    );
  });

  it('turns a WebGPU validation error during allocation into GpuAllocationError', async () => {
    // MAP_READ may only be combined with COPY_DST.
    await expect(
      gpu.createBuffer(64, GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE, 'bad usage'),
    ).rejects.toThrow(/could not allocate buffer "bad usage".*WebGPU rejected it/);
  });

  it('caches pipelines by variant name and names a missing shader', async () => {
    const key = pipelineKey(gpu.facts, { family: 'copy', shape: 'cache_test', workgroupSize: 64 });
    expect(key.name).toBe('copy_f32_cache_test_wg64');
    const before = gpu.pipelines.size;
    const first = await gpu.pipelines.get(key);
    expect(await gpu.pipelines.get(key)).toBe(first);
    expect(gpu.pipelines.size).toBe(before + 1);
    await expect(
      gpu.pipelines.get({ ...key, name: 'no_such', shader: 'nope.wgsl' }),
    ).rejects.toThrow(/no shader named "nope.wgsl"/);
  });

  it('splits grids past the per-dimension limit and the kernels honour the split', async () => {
    expect(workgroupGrid(10, 65535)).toEqual([10, 1]);
    expect(workgroupGrid(65536, 65535)).toEqual([32768, 2]);
    expect(workgroupGrid(200000, 65535)).toEqual([50000, 4]);
    expect(() => workgroupGrid(65535 * 65535 + 1, 65535)).toThrow(/exceed/);
    // 1000 rows on a grid limited to 64 per dimension: 16 x 63 workgroups, the last 8 idle.
    const gridLimit = 64;
    expect((await checkMatvec(gpu, 1000, 37, 7, { gridLimit })).passed).toBe(true);
    expect((await checkRmsNorm(gpu, 1000, 37, 7, { gridLimit })).passed).toBe(true);
  });
});

describe('WGSL compile errors', () => {
  it('name the variant, the line and its text', async () => {
    const gpu = await acquireNodeGpu();
    try {
      const source = tableShaderSource({
        'bad.wgsl': '@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = 1u;\n}',
      });
      const cache = new PipelineCache(gpu.device, source);
      const error = await cache
        .get({ name: 'bad_variant', shader: 'bad.wgsl', defines: {} })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ShaderError);
      expect((error as Error).message).toMatch(
        /shader variant bad_variant \(bad.wgsl\) does not compile:\n {2}line 3: .*\n {4}let x: f32 = 1u;/,
      );
    } finally {
      gpu.destroy();
    }
  });
});

describe('device loss', () => {
  it('fires devicelost with the reason, and later work fails with DeviceLostError', async () => {
    const gpu = await acquireNodeGpu();
    const seen: DeviceLostEvent[] = [];
    gpu.addEventListener('devicelost', (event) => seen.push(event as DeviceLostEvent));
    gpu.device.destroy();
    const event = await gpu.lost;
    expect(event).toBeInstanceOf(DeviceLostEvent);
    expect(event.reason).toBe('destroyed');
    expect(seen).toEqual([event]);
    await expect(gpu.createBuffer(16, GPUBufferUsage.STORAGE, 'after loss')).rejects.toThrow(
      DeviceLostError,
    );
    expect(() => gpu.batch('after loss')).toThrow(/device was lost \(destroyed/);
  });

  it('fails a readback in flight when the device goes with DeviceLostError, not the mapping', async () => {
    const gpu = await acquireNodeGpu();
    const buffer = await gpu.upload(new Uint8Array(64), 'in flight');
    const reads = [gpu.read(buffer, 0, 64), gpu.read(buffer, 0, 64)];
    await Promise.resolve();
    gpu.device.destroy();
    for (const read of reads) await expect(read).rejects.toThrow(DeviceLostError);
  });

  it('wraps a shader that does not compile in ShaderError', async () => {
    const gpu = await acquireNodeGpu();
    try {
      const broken = {
        name: 'broken',
        shader: 'include/reduce.wgsl',
        defines: { SUBGROUPS: false },
      };
      // reduce.wgsl alone has no entry point "main": the pipeline cannot be created.
      await expect(gpu.pipelines.get(broken)).rejects.toThrow(
        /pipeline broken could not be created/,
      );
    } finally {
      gpu.destroy();
    }
  });
});
