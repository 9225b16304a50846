import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import type { QuantName } from '../quant/index.js';
import { tinyModel, type TinyArchitecture } from '../model/testing/tiny-model.js';
import { ggufToOnnx, OnnxLlama } from './onnx-llama.js';

// The ONNX export the peer benchmark gives onnxruntime: run by onnxruntime (wasm, in Node) along
// llama.cpp's greedy steps on the same GGUF, its logits stay within NMSE of llama.cpp's. Float
// weights agree to rounding (~1e-13 seen); Q4_0 and Q8_0 go through MatMulNBits, whose f32
// activations differ from llama.cpp's 8-bit-rounded ones by ~2e-5 (a misplaced nibble or scale
// would be O(1)).
const STEPS = 6;
const dir = mkdtempSync(join(tmpdir(), 'agentgpu-onnx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function nmse(reference: Float32Array, mine: Float32Array): number {
  let error = 0;
  let signal = 0;
  for (let i = 0; i < reference.length; i++) {
    error += (reference[i] - mine[i]) ** 2;
    signal += reference[i] ** 2;
  }
  return error / signal;
}

const cases: [TinyArchitecture, QuantName, string, number][] = [
  ['llama', 'F32', 'MatMul f32 (from F32)', 1e-9],
  ['qwen2', 'F32', 'MatMul f32 (from F32)', 1e-9],
  ['llama', 'Q4_0', 'MatMulNBits 4-bit', 1e-4],
  ['llama', 'Q8_0', 'MatMulNBits 8-bit', 1e-4],
];

describe('GGUF exported to ONNX matches llama.cpp', () => {
  it.each(cases)('%s %s', async (architecture, weights, matmul, tolerance) => {
    const { bytes } = tinyModel({ architecture, weights, layers: 2, residualScale: 0.1 });
    const path = join(dir, `${architecture}-${weights}.gguf`);
    writeFileSync(path, bytes);
    const exported = ggufToOnnx(bytes);
    expect(exported.matmul).toBe(matmul);
    const onnx = await OnnxLlama.create(ort, exported.onnx, exported.config);

    const { getLlama } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: false, build: 'never' });
    const model = await llama.loadModel({ modelPath: path });
    const context = await model.createContext({
      contextSize: 128,
      threads: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    try {
      const prompt = model.tokenize('Hello there, the quick brown fox', false).map(Number);
      const ids = model.tokens.shouldPrependBosToken
        ? [Number(model.tokens.bos), ...prompt]
        : prompt;
      const sequence = context.getSequence();
      const next = { generateNext: { token: true, logits: true, options: { temperature: 0 } } };
      const items = ids.map((t, i) => (i === ids.length - 1 ? [t, next] : t));
      let theirs = (await sequence.controlledEvaluate(items as never))[ids.length - 1]!.next;
      let mine = await onnx.run(ids);
      for (let step = 0; step < STEPS; step++) {
        const reference = new Float32Array(exported.config.vocabSize);
        for (const [token, value] of theirs.logits ?? []) reference[Number(token)] = value;
        expect(nmse(reference, mine), `logits NMSE at step ${step}`).toBeLessThan(tolerance);
        const token = Number(theirs.token);
        expect(mine.indexOf(Math.max(...mine)), `argmax at step ${step}`).toBe(token);
        theirs = (await sequence.controlledEvaluate([[token, next]] as never))[0]!.next;
        mine = await onnx.run([token]);
      }
    } finally {
      await context.dispose();
      await model.dispose();
      await onnx.release();
    }
  });

  it('names what it cannot export', () => {
    const { bytes } = tinyModel({ architecture: 'qwen3', layers: 1 });
    expect(() => ggufToOnnx(bytes)).toThrow(/llama and qwen2.*qwen3/);
  });
});
