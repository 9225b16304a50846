// npm run checks:kernels [-- --swiftshader] [--quick] [--out FILE]
//
// Every kernel case against its CPU reference on this machine's adapter, without vitest: for a
// GPU machine that has no node_modules (`bash ../shared/gpu/pack.sh bench/checks.ts`, then
// `bash .gpu/run.sh "node gpu/checks.js"`), where the variants tuning.ts picks for hardware
// adapters (64 x 64 GEMM tiles, GEMM inputs rounded as staged, q8_k rounding in the matvec)
// run for real. Both reduction paths, f32 activations and, with shader-f16, f16 ones. Prints
// each failure and a count; exits 1 on any failure. --quick: one case per kernel, format and
// variant.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  caseName,
  kernelCases,
  needsF16,
  representativeCases,
  runKernelCase,
  runsOn,
} from '../src/kernels/checks/index.js';
import type { Activations } from '../src/kernels/variant.js';
import { acquireNodeGpu } from '../src/node/gpu.js';

const { values: flags } = parseArgs({
  options: {
    swiftshader: { type: 'boolean' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
  },
});

const cases = flags.quick ? representativeCases('variant') : kernelCases();
const rows: {
  path: string;
  name: string;
  variant: string;
  nmse: number;
  limit: number;
  passed: boolean;
}[] = [];
let failed = 0;
for (const subgroups of [true, false]) {
  const gpu = await acquireNodeGpu({
    forceSwiftShader: flags.swiftshader,
    features: { subgroups },
  });
  const activations: Activations[] = gpu.facts.features.shaderF16 ? ['f32', 'f16'] : ['f32'];
  for (const act of activations) {
    const path = `${subgroups && gpu.facts.features.subgroups ? 'subgroups' : 'workgroup'}, ${act}`;
    const started = performance.now();
    let count = 0;
    for (const c of cases) {
      if (needsF16(c, { activations: act }) && !gpu.facts.features.shaderF16) continue;
      if (!runsOn(c, gpu.facts)) continue;
      const name = caseName(c);
      try {
        const r = await runKernelCase(gpu, c, { activations: act });
        rows.push({
          path,
          name,
          variant: r.variant,
          nmse: r.nmse,
          limit: r.limit,
          passed: r.passed,
        });
        if (!r.passed) {
          failed++;
          console.log(
            `FAIL [${path}] ${name} (${r.variant}): nmse ${r.nmse.toExponential(2)} > ${r.limit.toExponential(0)}, ${r.nonFinite} non-finite, ${r.guardViolations} guard`,
          );
        }
      } catch (error) {
        failed++;
        rows.push({ path, name, variant: '', nmse: NaN, limit: NaN, passed: false });
        console.log(
          `FAIL [${path}] ${name}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      count++;
    }
    console.log(
      `${path}: ${count} cases in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  console.log(`${gpu.facts.vendor} ${gpu.facts.architecture} ${gpu.facts.description}`);
  gpu.destroy();
}
const out = flags.out ?? join(process.env.RESULTS ?? 'bench/results', 'checks.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ failed, rows }, null, 2));
console.log(`${rows.length - failed} of ${rows.length} kernel checks passed; wrote ${out}`);
process.exitCode = failed > 0 ? 1 : 0;
