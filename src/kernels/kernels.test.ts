import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context.js';
import { acquireNodeGpu } from '../node/gpu.js';
import {
  caseName,
  kernelCases,
  needsF16,
  REDUCTION_KERNELS,
  representativeCases,
  runKernelCase,
  runsOn,
} from './checks/index.js';
import type { Activations } from './variant.js';

// Every case on the subgroup reduction path (when the adapter has subgroups), and on the
// workgroup-memory path one case per kernel, format and variant of the kernels that have that
// path (REDUCTION_KERNELS; representativeCases, as the browser's run takes them: the cases
// differ there only in their shapes, which the subgroup path covers, and every case on both
// took a minute and a half of the suite here; the other kernels compile the same code on
// either device, and compiling them again took another minute and a half; the matvec's
// integer products once, their code the same on both paths; batches of 16 on both), with f32 activations and, where
// the adapter has shader-f16, f16 ones. SwiftShader has no shader-f16: there the f16 cases are
// skipped, and f16.test.ts compiles them instead.
const variants: [Activations, boolean][] = [
  ['f32', true],
  ['f32', false],
  ['f16', true],
  ['f16', false],
];

for (const [activations, subgroups] of variants) {
  describe(`kernels, ${activations} activations, ${subgroups ? 'subgroup' : 'workgroup'} reduction`, () => {
    let gpu: GpuContext;
    beforeAll(async () => {
      gpu = await acquireNodeGpu({ features: { subgroups } });
    });
    afterAll(() => gpu?.destroy());

    const cases = subgroups
      ? kernelCases()
      : [
          ...representativeCases('variant').filter((c) => REDUCTION_KERNELS.includes(c.kernel)),
          // The integer products' code does not depend on the path, but their q8_k block
          // scales share workgroup memory with this path's sums: once, in the fused q/k/v.
          // Batches of 16, whose sums fill this path's workgroup memory at 256 invocations (the
          // workgroup halves): float products, and x staged beside them.
          ...kernelCases().filter(
            (c) =>
              (c.kernel === 'matvec_qkv' && c.integerDot) ||
              (c.kernel === 'matvec' &&
                c.batch === 16 &&
                !c.wideLoads &&
                (c.stageX || !c.integerDot)),
          ),
        ];
    for (const c of cases) {
      it(caseName(c), async (ctx) => {
        if (needsF16(c, { activations }) && !gpu.facts.features.shaderF16) ctx.skip();
        if (!runsOn(c, gpu.facts)) ctx.skip();
        const result = await runKernelCase(gpu, c, { activations });
        // The reduction kernels pick their path from the device's features; no other kernel
        // has one to pick (else the workgroup path above would leave it out).
        if (REDUCTION_KERNELS.includes(c.kernel)) {
          if (subgroups && gpu.facts.features.subgroups) expect(result.variant).toContain('_sg');
          if (!subgroups) expect(result.variant).toContain('_wg_');
        } else {
          expect(result.variant).not.toMatch(/_sg|_wg_/);
        }
        expect(result.variant).toContain(`_${activations}`);
        expect(result.nonFinite).toBe(0);
        expect(result.guardViolations).toBe(0);
        expect(result.nmse).toBeLessThanOrEqual(result.limit);
        expect(result.passed).toBe(true);
      });
    }
  });
}
