import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShaderError } from '../errors.js';
import type { GpuContext } from '../gpu/context.js';
import { PipelineCache } from '../gpu/pipeline-cache.js';
import { tableShaderSource } from '../gpu/shader-library.js';
import { dotInput, integerDotFormat, quantFormats, type QuantName } from '../quant/index.js';
import { acquireNodeGpu } from '../node/gpu.js';
import { Argmax } from './argmax.js';
import { Attention, KvShift, KvWrite } from './attention.js';
import { Elementwise } from './elementwise.js';
import { Embedding } from './embedding.js';
import { Gemm } from './gemm.js';
import { Matvec } from './matvec.js';
import { RmsNorm } from './rms-norm.js';
import { Rope } from './rope.js';
import { Sampler } from './sample.js';
import { Penalties } from './penalties.js';
import { DotInputRounding } from './dot-input.js';
import { Softmax } from './softmax.js';
import { TokenMask } from './token-mask.js';
import type { Activations } from './variant.js';

// SwiftShader cannot run shader-f16, so here every f16 variant (and every f32 one beside it) is
// compiled and validated by Dawn on its null backend; a GPU with shader-f16 runs them against
// the references in kernels.test.ts.
const formats = Object.keys(quantFormats) as QuantName[];

for (const subgroups of [true, false]) {
  describe(`every variant compiles and validates (null backend, ${subgroups ? 'subgroups' : 'no subgroups'})`, () => {
    let gpu: GpuContext;
    beforeAll(async () => {
      gpu = await acquireNodeGpu({ backend: 'null', features: { subgroups } });
    });
    afterAll(() => gpu?.destroy());

    it('offers shader-f16', () => {
      expect(gpu.facts.features.shaderF16).toBe(true);
      expect(gpu.facts.notes.join(' ')).toMatch(/null backend/);
    });

    for (const activations of ['f16', 'f32'] as Activations[]) {
      it(`${activations} activations: all kernels`, async () => {
        const options = { activations };
        const names = new Set<string>();
        const add = (name: string) => names.add(name);
        for (const format of formats) {
          for (const batch of [1, 3, 8, 16])
            add((await Matvec.load(gpu, { format, batch, activations })).variant.key.name);
          // Float rows read 16 bytes a load (Q4_K's and Q5_K's are by default here).
          if (quantFormats[format].blockValues === 1) {
            const wide = { format, activations, wideLoads: true, cols: 1024 };
            add((await Matvec.load(gpu, wide)).variant.key.name);
          }
          for (const fusion of ['bias', 'gate_up', 'residual', 'qkv', 'qkv_bias'] as const) {
            add(
              (await Matvec.load(gpu, { format, batch: 8, fusion, activations })).variant.key.name,
            );
          }
          // x rounded as it is loaded (q8_k takes a pass of its own).
          const input = dotInput[format];
          if (input !== 'f32' && input !== 'q8_k') {
            const integerDot = false;
            add(
              (await Matvec.load(gpu, { format, input, activations, integerDot })).variant.key.name,
            );
          }
          // ... and multiplied as 8-bit integers (q8_k's block scales found first).
          if (integerDotFormat(format, input)) {
            const integerDot = true;
            add(
              (await Matvec.load(gpu, { format, input, activations, integerDot })).variant.key.name,
            );
            const wide = { input, activations, integerDot, shape: 'wide' as const };
            add((await Gemm.load(gpu, { format, ...wide })).key.name);
            // x rounded once per workgroup, over two subgroups a lane group.
            const staged = { integerDot, stageX: true, cols: 1024, subgroupsPerRow: 2 };
            add(
              (await Matvec.load(gpu, { format, input, activations, ...staged })).variant.key.name,
            );
          }
          for (const shape of ['wide', 'wide8', 'gpu', 'cpu'] as const) {
            add((await Gemm.load(gpu, { format, activations, shape })).key.name);
            // F16 weights and f16 x in f16 tiles.
            if (format === 'F16') {
              const tiles = { format, activations, shape, input: 'f16', stageF16: true } as const;
              add((await Gemm.load(gpu, tiles)).key.name);
            }
          }
          add((await Embedding.load(gpu, format, options)).key.name);
        }
        add((await RmsNorm.load(gpu, options)).variant.key.name);
        add((await Softmax.load(gpu, options)).variant.key.name);
        add((await Argmax.load(gpu, options)).key.name);
        add((await TokenMask.load(gpu, options)).key.name);
        add((await Sampler.load(gpu, options)).key.name);
        add((await Penalties.load(gpu, options)).key.name);
        for (const kind of ['q8_0', 'q8_k', 'f16', 'bf16'] as const)
          add((await DotInputRounding.load(gpu, kind, options)).key.name);
        for (const op of ['silu_mul', 'add', 'add_rows'] as const)
          add((await Elementwise.load(gpu, op, options)).key.name);
        const rope = {
          heads: 4,
          headDim: 64,
          ropeDims: 64,
          freqBase: 10000,
          freqScale: 1,
          neox: true,
        };
        add((await Rope.load(gpu, rope, options)).key.name);
        const attention = { heads: 8, kvHeads: 2, headDim: 128, blockTokens: 16 };
        add((await Attention.load(gpu, attention, undefined, options)).splitKey.name);
        add((await KvWrite.load(gpu, attention, options)).key.name);
        const shift = { ...attention, ropeDims: 96, neox: true };
        add((await KvShift.load(gpu, shift, options)).key.name);
        for (const kv of ['int8', 'f16', 'f32'] as const) {
          add((await Attention.load(gpu, { ...attention, kv }, undefined, options)).splitKey.name);
          add((await KvWrite.load(gpu, { ...attention, kv }, options)).key.name);
          add((await KvShift.load(gpu, { ...shift, kv }, options)).key.name);
        }
        // The cache in the activations' type is the same variant as its format named.
        const rounded = formats.filter((f) => !['f32', 'q8_k'].includes(dotInput[f])).length;
        const integer = formats.filter((f) => integerDotFormat(f, dotInput[f])).length;
        const dense = formats.filter((f) => quantFormats[f].blockValues === 1).length;
        expect(names.size).toBe(formats.length * 14 + rounded + 3 * integer + dense + 4 + 23);
        for (const name of names) expect(name).toContain(`_${activations}`);
      });
    }

    it('rejects f16 code with a type error, so validation is real', async () => {
      const cache = new PipelineCache(
        gpu.device,
        tableShaderSource({
          'bad.wgsl':
            'enable f16;\n@compute @workgroup_size(1)\nfn main() {\n  let h: f16 = 1.0f;\n}',
        }),
      );
      await expect(cache.get({ name: 'bad_f16', shader: 'bad.wgsl', defines: {} })).rejects.toThrow(
        ShaderError,
      );
    });
  });
}

describe('f16 on an adapter without shader-f16', () => {
  it('says what is missing and what to use instead', async () => {
    const gpu = await acquireNodeGpu({ forceSwiftShader: true });
    try {
      expect(gpu.facts.features.shaderF16).toBe(false);
      await expect(RmsNorm.load(gpu, { activations: 'f16' })).rejects.toThrow(
        /f16 activations need the adapter's shader-f16 feature.*use activations 'f32'/,
      );
    } finally {
      gpu.destroy();
    }
  });
});
