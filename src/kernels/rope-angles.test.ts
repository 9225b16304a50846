import { describe, expect, it } from 'vitest';
import { ropeCache, type RopeConfig } from './rope-angles.js';

const config: RopeConfig = {
  heads: 1,
  headDim: 64,
  ropeDims: 64,
  freqBase: 500000,
  freqScale: 1,
  neox: false,
};

describe('ropeCache', () => {
  it("iterates theta in f32 as llama.cpp's rope cache does", () => {
    const f = Math.fround;
    const cache = ropeCache([1234], config);
    const scale = f(Math.pow(500000, f(-2 / 64)));
    let theta = f(1234);
    for (let i = 0; i < 32; i++) {
      expect(cache[2 * i]).toBe(f(Math.cos(theta)));
      expect(cache[2 * i + 1]).toBe(f(Math.sin(theta)));
      theta = f(theta * scale);
    }
  });

  it('stays within f32 drift of the exact angles', () => {
    const positions = [0, 1, 17, 4095];
    const cache = ropeCache(positions, config);
    positions.forEach((p, t) => {
      for (let i = 0; i < 32; i++) {
        const exact = p * 500000 ** (-i / 32);
        expect(Math.abs(cache[(t * 32 + i) * 2] - Math.cos(exact))).toBeLessThan(2e-3);
        expect(Math.abs(cache[(t * 32 + i) * 2 + 1] - Math.sin(exact))).toBeLessThan(2e-3);
      }
    });
    expect(cache.subarray(0, 2)).toEqual(new Float32Array([1, 0]));
  });

  it('divides by frequency factors and scales linearly', () => {
    const factors = Float32Array.from({ length: 32 }, (_, i) => 1 + i);
    const scaled = ropeCache([100], { ...config, freqScale: 0.25 }, factors);
    const plain = ropeCache([25], config);
    // Pair 0: theta = 100 / 1 * 0.25 = 25, as position 25 unscaled.
    expect(scaled[0]).toBe(plain[0]);
    expect(scaled[1]).toBe(plain[1]);
  });
});
