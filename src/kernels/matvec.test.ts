import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { Q4_K, randomBlocks, rowBytes } from '../quant/index.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { checkEmbedding, checkGemm, checkMatvec } from './checks/index.js';
import { Gemm } from './gemm.js';
import {
  Matvec,
  MATVEC_MIN_STAGED_UNITS,
  matvecStagedUnits,
  matvecWorkgroupBytes,
} from './matvec.js';
import { weightChunks } from './weight-binding.js';
import { matvecReference } from './reference/matvec.js';
import { compareToReference } from './testing/compare.js';

describe('matvec and gemm past one binding and one grid dimension', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await acquireNodeGpu();
  });
  afterAll(() => gpu?.destroy());

  it('splits weights larger than a binding into aligned row ranges', async () => {
    const buffer = await gpu.createBuffer(300 * 210, GPUBufferUsage.STORAGE, 'q6_k');
    // 210-byte rows start 256-aligned only every 128 rows.
    const chunks = weightChunks(buffer, 300, 210, 30_000, 256);
    expect(chunks.map((c) => [c.start, c.count, c.binding.offset, c.binding.size])).toEqual([
      [0, 128, 0, 128 * 210],
      [128, 128, 128 * 210, 128 * 210],
      [256, 44, 256 * 210, 44 * 210],
    ]);
    expect(() => weightChunks(buffer, 300, 210, 20_000, 256)).toThrow(
      /does not fit a 20000-byte binding/,
    );
    expect(() => weightChunks({ buffer, offset: 4 }, 300, 210, 30_000, 256)).toThrow(
      /256-byte aligned/,
    );
    buffer.destroy();
    // Every format through the split path, batch included.
    const cases = [
      { format: 'Q6_K', rows: 300, cols: 256, bindingLimit: 30_000 },
      { format: 'Q4_K', rows: 77, cols: 512, bindingLimit: 3_000 },
      { format: 'Q8_0', rows: 300, cols: 96, bindingLimit: 40_000 },
      { format: 'F16', rows: 129, cols: 70, bindingLimit: 17_000 },
    ] as const;
    for (const { format, rows, cols, bindingLimit } of cases) {
      for (const batch of [1, 4]) {
        const result = await checkMatvec(gpu, rows, cols, 3, { format, batch, bindingLimit });
        expect(result.passed, `${format} m${batch}`).toBe(true);
      }
    }
    // The embedding table too: each slice's dispatch writes the ids in its rows.
    for (const format of ['Q6_K', 'F16', 'Q4_0'] as const) {
      const dim = format === 'F16' ? 70 : 256;
      const result = await checkEmbedding(gpu, format, 300, dim, 40, 5, { bindingLimit: 30_000 });
      expect(result.passed, `embedding ${format}`).toBe(true);
    }
    // The prefill GEMM takes the same split.
    for (const { format, rows, cols, bindingLimit } of cases) {
      const result = await checkGemm(gpu, 35, rows, cols, 4, { format, bindingLimit });
      expect(result.passed, `gemm ${format}`).toBe(true);
    }
  });

  it('refuses integer products where WGSL lacks the packed dot product, saying so', async () => {
    const plain = await acquireNodeGpu({ features: { packedIntegerDot: false } });
    try {
      expect(plain.facts.features.packedIntegerDot).toBe(false);
      const integer = { format: 'Q4_0', input: 'q8_0', integerDot: true } as const;
      const why = /packed_4x8_integer_dot_product, which .* lacks: leave integerDot off/;
      await expect(Matvec.load(plain, integer)).rejects.toThrow(why);
      await expect(Gemm.load(plain, { ...integer, shape: 'wide' })).rejects.toThrow(why);
    } finally {
      plain.destroy();
    }
  });

  it('sizes its workgroup memory to the batch and the staged x, and says what does not fit', async () => {
    await expect(Matvec.load(gpu, { batch: 17 })).rejects.toThrow(/batch must be 1\.\.16/);
    const wg = await acquireNodeGpu({ features: { subgroups: false } });
    try {
      // Without subgroups 16 vectors' sums fill 32 KiB at 256 invocations: the default is 128.
      const storage = wg.facts.limits.maxComputeWorkgroupStorageSize;
      const sums = (workgroup: number) =>
        matvecWorkgroupBytes({ workgroup, batch: 16, subgroupSize: 0, q8k: false, stagedUnits: 0 });
      expect(sums(256)).toBeGreaterThanOrEqual(storage);
      const staged = { format: 'Q4_0', input: 'q8_0', integerDot: true, stageX: true } as const;
      const kernel = await Matvec.load(wg, { ...staged, batch: 16, cols: 4096 });
      // ... and less, to hold a round of 32 units of x beside them: 4,096 values in rounds.
      const workgroup = (kernel.rowsPerWorkgroup / 2) * 4;
      const shape = { workgroup, batch: 16, subgroupSize: 0, q8k: false, stagedUnits: 0 };
      expect(workgroup).toBe(64);
      expect(kernel.stagedUnits).toBe(matvecStagedUnits(4096, storage, shape));
      expect(kernel.stagedUnits).toBeGreaterThanOrEqual(MATVEC_MIN_STAGED_UNITS);
      expect(kernel.stagedUnits).toBeLessThan(4096 / 32);
      expect(
        matvecWorkgroupBytes({ ...shape, stagedUnits: kernel.stagedUnits }),
      ).toBeLessThanOrEqual(storage);
      expect(kernel.variant.key.name).toContain(`_xs${kernel.stagedUnits}`);
      await expect(
        Matvec.load(wg, { ...staged, batch: 2, cols: 4096, stagedUnits: 10_000 }),
      ).rejects.toThrow(/48 bytes a unit of each of 2 rows; \d+ units fit .* not 10000$/);
      await expect(
        Matvec.load(wg, { ...staged, batch: 16, cols: 4096, workgroup: 256 }),
      ).rejects.toThrow(/0 units fit .*: take a smaller workgroup or batch/);
      await expect(Matvec.load(wg, { format: 'Q4_0', stageX: true })).rejects.toThrow(
        /staged for the integer products, not for float ones/,
      );
    } finally {
      wg.destroy();
    }
  });

  it('stages f16 GEMM tiles only for f16 values, on adapters with shader-f16', async () => {
    expect(gpu.facts.features.shaderF16).toBe(false); // SwiftShader
    const f16 = { format: 'F16', input: 'f16', stageF16: true } as const;
    await expect(Gemm.load(gpu, f16)).rejects.toThrow(
      /f16 tiles need the adapter's shader-f16 feature, which .* lacks: leave stageF16 off/,
    );
    await expect(Gemm.load(gpu, { ...f16, format: 'Q4_0', input: 'q8_0' })).rejects.toThrow(
      /f16 tiles are for F16 weights with x rounded to f16 .* not Q4_0 with q8_0 inputs/,
    );
  });

  it('gives the same products from every workgroup size', async () => {
    // bench:kernels compares sizes on a GPU; each must compute what the default does, rows
    // past a workgroup's end included (77 rows), with x rounded as it is loaded.
    for (const workgroup of [32, 64, 128]) {
      for (const [format, input] of [
        ['Q4_K', 'q8_k'],
        ['Q4_0', 'q8_0'],
        ['F16', 'f16'],
      ] as const) {
        const options = { format, input, workgroup, batch: 2 };
        const result = await checkMatvec(gpu, 77, 512, 9, options);
        expect(result.passed, `${format} wg${workgroup}`).toBe(true);
      }
    }
    await expect(Matvec.load(gpu, { workgroup: 96 })).rejects.toThrow(/32, 64, 128 or 256/);
  });

  it('computes a 151936 x 4096 Q4_K output projection (rows sampled against the reference)', async () => {
    const rows = 151_936;
    const cols = 4096;
    const bytesPerRow = rowBytes(Q4_K, cols);
    // Random blocks with sane f16 scales: quantizing 622M floats in JS would take minutes.
    const bytes = randomBlocks(Q4_K, rows * cols, 7);
    const x = new Float32Array(cols).map((_, i) => Math.sin(i));
    const kernel = await Matvec.load(gpu, { format: 'Q4_K' });
    const w = await gpu.upload(bytes, 'lm_head');
    const xBuf = await gpu.upload(x, 'x');
    const out = await gpu.createBuffer(
      rows * 4,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
      'logits',
    );
    try {
      const batch = gpu.batch('lm_head');
      kernel.encode(batch, { w, x: xBuf, out, rows, cols });
      await batch.submit();
      const logits = new Float32Array(await gpu.read(out));
      const sample = [0, 1, 65_534, 65_535, 65_536, 100_000, rows - 2, rows - 1];
      for (let i = 0; i < 24; i++) sample.push((i * 6421 + 17) % rows);
      const expected = new Float32Array(sample.length);
      const actual = new Float32Array(sample.length);
      sample.forEach((row, i) => {
        const dense = Q4_K.dequantize(
          bytes.subarray(row * bytesPerRow, (row + 1) * bytesPerRow),
          cols,
        );
        expected[i] = matvecReference(dense, x, 1, cols)[0];
        actual[i] = logits[row];
      });
      expect(compareToReference(actual, expected, 1e-10).passed).toBe(true);
      expect(logits.every(Number.isFinite)).toBe(true);
    } finally {
      w.destroy();
      xBuf.destroy();
      out.destroy();
    }
  });
});
