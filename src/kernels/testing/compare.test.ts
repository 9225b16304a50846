import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../gpu/context.js';
import { acquireNodeGpu } from '../../node/gpu.js';
import { compareToReference, GuardedOutput } from './compare.js';

describe('compareToReference', () => {
  it('computes NMSE against the reference and holds it to the limit', () => {
    const expected = new Float32Array([1, -2, 3, 0]);
    const same = compareToReference(expected.slice(), expected, 1e-10);
    expect(same).toMatchObject({ nmse: 0, maxAbsError: 0, passed: true });
    const off = compareToReference(new Float32Array([1, -2, 3.1, 0]), expected, 1e-4);
    expect(off.nmse).toBeCloseTo(0.01 / 14, 8);
    expect(off.maxAbsError).toBeCloseTo(0.1, 5);
    expect(off.passed).toBe(false);
  });

  it('fails on NaN/Inf and on guard violations whatever the NMSE', () => {
    const expected = new Float32Array([1, 2, 3]);
    expect(compareToReference(new Float32Array([1, NaN, 3]), expected, 1)).toMatchObject({
      nonFinite: 1,
      passed: false,
    });
    expect(compareToReference(new Float32Array([1, Infinity, 3]), expected, 1).passed).toBe(false);
    expect(compareToReference(expected.slice(), expected, 1, 2)).toMatchObject({
      guardViolations: 2,
      passed: false,
    });
    expect(() => compareToReference(new Float32Array(2), expected, 1)).toThrow(
      /2 elements, reference 3/,
    );
  });
});

describe('GuardedOutput', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await acquireNodeGpu();
  });
  afterAll(() => gpu?.destroy());

  it('counts writes past the end of the output, and binds through the back guard', async () => {
    const out = await GuardedOutput.create(gpu, 5, 'guarded');
    const { offset, size } = out.binding;
    expect(offset % gpu.facts.limits.minStorageBufferOffsetAlignment).toBe(0);
    expect(size).toBeGreaterThan(5 * 4);
    gpu.write(out.buffer, new Float32Array([1, 2, 3, 4, 5]), offset);
    expect(await out.read()).toEqual({
      values: new Float32Array([1, 2, 3, 4, 5]),
      guardViolations: 0,
    });
    // One element past the end, as an off-by-one kernel would write it.
    gpu.write(out.buffer, new Float32Array([6]), offset + 5 * 4);
    expect((await out.read()).guardViolations).toBe(1);
    out.destroy();
  });
});
