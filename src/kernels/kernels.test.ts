import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { caseName, kernelCases, runKernelCase } from './checks.js';

// Every case on both reduction paths: subgroups (when the adapter has them) and workgroup memory.
for (const subgroups of [true, false]) {
  describe(`kernels, ${subgroups ? 'subgroup' : 'workgroup'} reduction`, () => {
    let gpu: GpuContext;
    beforeAll(async () => {
      gpu = await acquireNodeGpu({ features: { subgroups } });
    });
    afterAll(() => gpu?.destroy());

    for (const c of kernelCases()) {
      it(caseName(c), async () => {
        const result = await runKernelCase(gpu, c);
        // The reduction kernels pick their path from the device's features.
        if (['matvec', 'rms_norm', 'softmax', 'attention'].includes(c.kernel)) {
          if (subgroups && gpu.facts.features.subgroups) expect(result.variant).toContain('_sg');
          if (!subgroups) expect(result.variant).toContain('_wg_');
        }
        expect(result.nonFinite).toBe(0);
        expect(result.guardViolations).toBe(0);
        expect(result.nmse).toBeLessThanOrEqual(result.limit);
        expect(result.passed).toBe(true);
      });
    }
  });
}
