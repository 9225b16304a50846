// The peer benchmark's engines inside a Chromium page (bench/browser.ts opens it): agentgpu on
// navigator.gpu, onnxruntime-web (WebGPU EP or wasm) on the GGUF's ONNX export, and wllama
// (llama.cpp compiled to wasm, with its WebGPU backend or on wasm threads). Each is timed the
// same way: load from a fetch, a warm-up at the measured shapes, then greedy decoding.
import { acquireBrowserGpu } from '../../src/gpu/acquire.js';
import type { ModelConfig } from '../../src/model/config.js';
import { OnnxLlama } from '../../src/testing/onnx-llama.js';
import { measureAgentgpu, contextFor, type Measure } from '../measure.js';

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Chromium's JS heap in use (needs --enable-precise-memory-info for exact figures). */
function jsHeap(): number {
  const memory = (performance as { memory?: { usedJSHeapSize: number } }).memory;
  return memory?.usedJSHeapSize ?? 0;
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export async function agentgpu(url: string, prompt: number[], decode: number): Promise<Measure> {
  const gpu = await acquireBrowserGpu();
  try {
    const measure = await measureAgentgpu(gpu, () => fetchBytes(url), prompt, decode);
    return { ...measure, jsHeapBytes: jsHeap() };
  } finally {
    gpu.destroy();
  }
}

export async function onnxruntime(
  url: string,
  config: ModelConfig,
  prompt: number[],
  decode: number,
  executionProvider: 'webgpu' | 'wasm',
): Promise<Measure> {
  const ort = await import('onnxruntime-web');
  const started = performance.now();
  const model = await OnnxLlama.create(ort, await fetchBytes(url), config, executionProvider);
  const loadMs = performance.now() - started;
  try {
    const run = async (tokens: number) => {
      model.reset();
      const t0 = performance.now();
      let token = argmax(await model.run(prompt));
      const first = performance.now();
      for (let n = 1; n < tokens; n++) token = argmax(await model.run([token]));
      return { first: first - t0, decode: performance.now() - first };
    };
    await run(2); // warm-up
    const r = await run(decode);
    return {
      loadMs,
      prefillTokensPerSecond: (prompt.length * 1000) / r.first,
      decodeTokensPerSecond: ((decode - 1) * 1000) / r.decode,
      timeToFirstTokenMs: r.first,
      memoryBytes: jsHeap(),
      jsHeapBytes: jsHeap(),
    };
  } finally {
    await model.release();
  }
}

interface WllamaTimings {
  prompt_n: number;
  prompt_ms: number;
  predicted_n: number;
  predicted_ms: number;
}

/**
 * wllama's completion API takes text, not token ids: `prompt` is the text of the other engines'
 * prompt tokens, and its own tokenization must come within two tokens of `promptTokens` (a BOS,
 * a merge across the cut). Its replies go through JSON, which throws on invalid UTF-8 — what a
 * random model's byte tokens make — so `banned` tokens (those that are not whole ASCII text)
 * get a logit bias of -inf: the same forward pass, a sampler that stays in valid text.
 */
export async function wllama(
  url: string,
  wasm: string,
  prompt: string,
  promptTokens: number,
  decode: number,
  gpu: boolean,
  banned: number[],
): Promise<Measure> {
  if (gpu) {
    // ggml-webgpu asks its device for shader-f16; without it wllama falls back to the CPU
    // without a word, which would pass off wasm figures as WebGPU ones.
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter?.features.has('shader-f16')) {
      throw new Error(
        "llama.cpp's WebGPU backend needs shader-f16, which this adapter " +
          `(${adapter ? `${adapter.info.vendor} ${adapter.info.architecture}` : 'none'}) lacks`,
      );
    }
  }
  const { Wllama } = await import('@wllama/wllama');
  const quiet = { debug() {}, log() {}, info() {}, warn() {}, error: console.error };
  const debug = new URLSearchParams(location.search).has('debug');
  const engine = new Wllama(
    { default: wasm },
    debug ? {} : { suppressNativeLog: true, logger: quiet },
  );
  try {
    const started = performance.now();
    const blob = new Blob([(await fetchBytes(url)) as Uint8Array<ArrayBuffer>]);
    await engine.loadModel([blob], {
      n_ctx: contextFor(promptTokens + 2, decode),
      n_batch: 512,
      n_gpu_layers: gpu ? 999 : 0,
      // All cores, as llama.cpp's CPU peer in Node (wllama's default is half).
      n_threads: navigator.hardwareConcurrency,
    });
    const loadMs = performance.now() - started;
    // The cache off: every run prefills the whole prompt.
    const complete = async (tokens: number) => {
      const response = await engine.createCompletion({
        prompt,
        max_tokens: tokens,
        temperature: 0,
        ignore_eos: true,
        cache_prompt: false,
        logit_bias: Object.fromEntries(banned.map((t) => [t, false])),
      } as Parameters<typeof engine.createCompletion>[0] & { stream?: false });
      const timings = (response as { timings?: WllamaTimings }).timings;
      if (!timings) throw new Error('wllama gave no timings');
      if (Math.abs(timings.prompt_n - promptTokens) > 2) {
        throw new Error(`wllama prefilled ${timings.prompt_n} tokens, not ~${promptTokens}`);
      }
      return timings;
    };
    await complete(2); // warm-up
    const t = await complete(decode);
    return {
      loadMs,
      prefillTokensPerSecond: (t.prompt_n * 1000) / t.prompt_ms,
      decodeTokensPerSecond: (t.predicted_n * 1000) / t.predicted_ms,
      timeToFirstTokenMs: t.prompt_ms,
      memoryBytes: jsHeap(),
      jsHeapBytes: jsHeap(),
    };
  } finally {
    await engine.exit();
  }
}
