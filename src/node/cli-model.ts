// `agentgpu generate`, `chat` and `serve`: a GGUF model from a path or URL on Dawn.
import { createInterface } from 'node:readline/promises';
import type { GpuContext } from '../gpu/context.js';
import type { ChatMessage } from '../model/chat/index.js';
import { LanguageModel, type GenerateOptions } from '../model/language-model.js';
import { openModelSource } from '../model/loader/node.js';
import type { LoadProgress } from '../model/loader/source.js';
import type { SlidingWindow } from '../kv/paged-kv-cache.js';
import type { KvFormat } from '../kernels/attention.js';
import { basename } from 'node:path';
import { acquireNodeGpu } from './gpu.js';
import { createEngine } from './engine.js';
import { serve } from './server.js';

export interface ModelCommandOptions {
  model: string;
  contextSize?: number;
  window?: SlidingWindow;
  kv?: KvFormat;
  forceSwiftShader: boolean;
  generate: GenerateOptions;
}

/** Progress on stderr (a terminal only), so stdout stays the output. */
function progressLine(): ((p: LoadProgress) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let shown = -1;
  return ({ loaded, total }) => {
    const percent = Math.floor((loaded / total) * 100);
    if (percent === shown) return;
    shown = percent;
    process.stderr.write(`\ragentgpu: loading model ${percent}%${percent === 100 ? '\n' : ''}`);
  };
}

async function withModel<T>(
  o: ModelCommandOptions,
  body: (model: LanguageModel, gpu: GpuContext) => Promise<T>,
): Promise<T> {
  const source = await openModelSource(o.model, { onProgress: progressLine() });
  let gpu: GpuContext | undefined;
  let model: LanguageModel | undefined;
  try {
    gpu = await acquireNodeGpu({ forceSwiftShader: o.forceSwiftShader });
    model = await LanguageModel.load(gpu, source, {
      contextSize: o.contextSize,
      window: o.window,
      kv: o.kv,
    });
    return await body(model, gpu);
  } finally {
    model?.destroy();
    gpu?.destroy();
    await source.close();
  }
}

/** One completion of `prompt`: streamed text, or with `json` one JSON object. */
export function generateCommand(o: ModelCommandOptions, prompt: string, json: boolean) {
  return withModel(o, async (model) => {
    const generation = model.generate(prompt, o.generate);
    if (!json) for await (const { text } of generation) process.stdout.write(text);
    const r = await generation.result;
    const kv = model.decoder.kvStats();
    if (json) {
      console.log(
        JSON.stringify({
          prompt_tokens: r.promptTokens,
          tokens: r.tokens,
          text: r.text,
          finish_reason: r.finishReason,
          timings: {
            prompt_tokens: r.timings.promptTokens,
            prefill_ms: r.timings.prefillMs,
            prefill_tokens_per_second: r.timings.prefillTokensPerSecond,
            decode_tokens: r.timings.decodeTokens,
            decode_ms: r.timings.decodeMs,
            decode_tokens_per_second: r.timings.decodeTokensPerSecond,
            time_to_first_token_ms: r.timings.timeToFirstTokenMs,
          },
          kv: {
            format: model.decoder.memory.kv,
            bytes_in_use: kv.bytesInUse,
            blocks_used: kv.usedBlocks,
            blocks: kv.blocks,
            evicted_tokens: model.decoder.evicted,
          },
        }),
      );
    } else {
      process.stdout.write('\n');
      const t = r.timings;
      console.error(
        `agentgpu: ${t.promptTokens} prompt tokens at ${t.prefillTokensPerSecond.toFixed(1)} tok/s, ` +
          `${r.tokens.length} generated at ${t.decodeTokensPerSecond.toFixed(1)} tok/s, ` +
          `first token after ${t.timeToFirstTokenMs.toFixed(0)} ms (${r.finishReason})`,
      );
    }
    return 0;
  });
}

/** An interactive chat on the terminal through the model's chat template. */
export function chatCommand(o: ModelCommandOptions, system: string | undefined) {
  return withModel(o, async (model) => {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    const messages: ChatMessage[] = system ? [{ role: 'system', content: system }] : [];
    console.error(`agentgpu: chatting with ${model.config.name}; an empty line or Ctrl-D ends`);
    try {
      for (;;) {
        let line: string;
        try {
          line = await rl.question('> ');
        } catch {
          break; // stdin closed
        }
        if (!line.trim()) break;
        messages.push({ role: 'user', content: line });
        const generation = model.generate(messages, o.generate);
        for await (const { text } of generation) process.stdout.write(text);
        process.stdout.write('\n');
        messages.push({ role: 'assistant', content: (await generation.result).text });
      }
    } finally {
      rl.close();
    }
    return 0;
  });
}

export interface ServeCommandOptions {
  port: number;
  host: string;
  apiKey?: string;
  id?: string;
  sequences: number;
  queueLimit: number;
  allowedHosts: string[];
  /** Origins whose pages may call it (CORS); '*' for any. */
  corsOrigins: string[] | '*';
}

/** `agentgpu serve`: the edge server until SIGINT or SIGTERM. */
export async function serveCommand(
  o: ModelCommandOptions,
  s: ServeCommandOptions,
): Promise<number> {
  const id = s.id ?? basename(o.model.split('?')[0]).replace(/\.gguf$/i, '');
  const engine = await createEngine({
    // One queue limit: the server's, for every request kind.
    queue: s.queueLimit,
    models: [
      {
        id,
        source: o.model,
        options: { contextSize: o.contextSize, window: o.window, kv: o.kv, sequences: s.sequences },
      },
    ],
  });
  const server = await serve({
    engine,
    port: s.port,
    host: s.host,
    apiKey: s.apiKey,
    queueLimit: s.queueLimit,
    allowedHosts: s.allowedHosts,
    corsOrigins: s.corsOrigins,
  });
  console.log(`agentgpu: serving "${id}" at ${server.url}/v1`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await engine.close();
  return 0;
}
