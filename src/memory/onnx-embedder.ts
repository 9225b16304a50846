// Sentence embeddings from an ONNX model (e.g. an all-MiniLM-L6-v2 export) run by
// onnxruntime-web: WebGPU where the page or worker has it, WebAssembly otherwise. Texts are
// tokenized with the model's own tokenizer.json (@huggingface/tokenizers), run in batches,
// mean-pooled over their tokens and L2-normalized, as sentence-transformers does.
import { Tokenizer } from '@huggingface/tokenizers';
import type * as Ort from 'onnxruntime-web';
import { ModelLoadError } from '../errors.js';
import { normalize } from '../util/vector.js';

/** Something that turns texts into vectors: an ONNX model, or a language model's hidden states. */
export interface Embedder {
  /** Names the vectors' model: vectors of different models do not compare. */
  readonly id: string;
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  close(): void;
}

export type OnnxBackend = 'webgpu' | 'wasm';

export interface OnnxEmbedderOptions {
  /** model.onnx: a URL, or its bytes. */
  model: string | ArrayBuffer | Uint8Array;
  /** tokenizer.json: a URL, or its parsed object. */
  tokenizer: string | object;
  /** tokenizer_config.json: a URL, or its parsed object (optional). */
  tokenizerConfig?: string | object;
  /** The vectors' model id (default: the model's URL). */
  id?: string;
  /** Backends to try in order (default: webgpu where navigator.gpu exists, then wasm). */
  backends?: OnnxBackend[];
  /** Tokens per text at most, [CLS] and [SEP] included (default 256, MiniLM's). */
  maxTokens?: number;
  /** Texts per run (default 16). */
  batchSize?: number;
  /** Where onnxruntime-web's .wasm files are served from (default: next to its script). */
  wasmPaths?: string;
}

async function fetched(url: string, what: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new ModelLoadError(
      url,
      `could not fetch the embedding ${what} from ${url}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!response.ok) {
    throw new ModelLoadError(
      url,
      `the embedding ${what} at ${url} answered ${response.status} ${response.statusText}: check the URL`,
      { status: response.status },
    );
  }
  return response;
}

async function json(source: string | object, what: string): Promise<object> {
  if (typeof source !== 'string') return source;
  const text = await (await fetched(source, what)).text();
  try {
    return JSON.parse(text) as object;
  } catch (error) {
    throw new ModelLoadError(
      source,
      `the embedding ${what} at ${source} is not JSON: ${(error as Error).message}`,
    );
  }
}

const source = (s: unknown) => (typeof s === 'string' ? s : '(bytes)');

function defaultBackends(): OnnxBackend[] {
  const gpu = typeof navigator !== 'undefined' && 'gpu' in navigator && !!navigator.gpu;
  return gpu ? ['webgpu', 'wasm'] : ['wasm'];
}

export class OnnxEmbedder implements Embedder {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly id: string,
    /** The backend the session runs on. */
    readonly backend: OnnxBackend,
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly tokenizer: Tokenizer,
    private readonly maxTokens: number,
    private readonly batchSize: number,
  ) {}

  static async load(options: OnnxEmbedderOptions): Promise<OnnxEmbedder> {
    const ort = await import('onnxruntime-web');
    if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
    const [bytes, tokenizerJson, tokenizerConfig] = await Promise.all([
      typeof options.model === 'string'
        ? fetched(options.model, 'model').then(async (r) => new Uint8Array(await r.arrayBuffer()))
        : new Uint8Array(options.model instanceof ArrayBuffer ? options.model : options.model),
      json(options.tokenizer, 'tokenizer.json'),
      options.tokenizerConfig ? json(options.tokenizerConfig, 'tokenizer_config.json') : {},
    ]);
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (error) {
      throw new ModelLoadError(
        source(options.tokenizer),
        `the embedding tokenizer.json could not be read: ${(error as Error).message}`,
      );
    }
    const failures: string[] = [];
    for (const backend of options.backends ?? defaultBackends()) {
      try {
        const session = await ort.InferenceSession.create(bytes, {
          executionProviders: [backend],
          graphOptimizationLevel: 'all',
        });
        const id = options.id ?? (typeof options.model === 'string' ? options.model : 'onnx');
        const embedder = new OnnxEmbedder(
          id,
          backend,
          ort,
          session,
          tokenizer,
          options.maxTokens ?? 256,
          options.batchSize ?? 16,
        );
        // A backend that takes the model may still fail to run it (an op it lacks).
        await embedder.embed(['ok']);
        return embedder;
      } catch (error) {
        failures.push(`${backend}: ${(error as Error).message}`);
      }
    }
    throw new ModelLoadError(
      source(options.model),
      `no onnxruntime-web backend could run the embedding model (${failures.join('; ')}): ` +
        'check that it is a sentence-embedding ONNX export (input_ids, attention_mask → ' +
        'last_hidden_state or a pooled embedding)',
    );
  }

  /** One unit-length vector per text. Calls run one at a time (one session). */
  embed(texts: readonly string[]): Promise<Float32Array[]> {
    const run = this.queue.then(() => this.embedAll(texts));
    this.queue = run.catch(() => {});
    return run;
  }

  private async embedAll(texts: readonly string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) {
      out.push(...(await this.embedBatch(texts.slice(i, i + this.batchSize))));
    }
    return out;
  }

  private async embedBatch(texts: readonly string[]): Promise<Float32Array[]> {
    const { ort, session } = this;
    const encodings = texts.map((t) => {
      const e = this.tokenizer.encode(t, { return_token_type_ids: true });
      if (e.ids.length <= this.maxTokens) return e;
      // Keep the start and the closing special token ([SEP]).
      const keep = (a: number[]) => [...a.slice(0, this.maxTokens - 1), a[a.length - 1]];
      return {
        ids: keep(e.ids),
        attention_mask: keep(e.attention_mask),
        token_type_ids: keep(e.token_type_ids),
      };
    });
    const batch = texts.length;
    const length = Math.max(1, ...encodings.map((e) => e.ids.length));
    const grid = (pick: (e: (typeof encodings)[number]) => readonly number[]) => {
      const data = new BigInt64Array(batch * length);
      encodings.forEach((e, b) => pick(e).forEach((v, t) => (data[b * length + t] = BigInt(v))));
      return new ort.Tensor('int64', data, [batch, length]);
    };
    const feeds: Record<string, Ort.Tensor> = {};
    const inputs: Record<string, () => Ort.Tensor> = {
      input_ids: () => grid((e) => e.ids),
      attention_mask: () => grid((e) => e.attention_mask),
      token_type_ids: () => grid((e) => e.token_type_ids),
    };
    for (const name of session.inputNames) {
      const make = inputs[name];
      if (!make) {
        throw new ModelLoadError(
          this.id,
          `the embedding model wants an input "${name}": only input_ids, attention_mask and ` +
            'token_type_ids are fed',
        );
      }
      feeds[name] = make();
    }
    const results = await session.run(feeds);
    try {
      const output =
        results.last_hidden_state ?? results.sentence_embedding ?? results[session.outputNames[0]];
      const data = output.data as Float32Array;
      const dims = output.dims;
      const vectors: Float32Array[] = [];
      if (dims.length === 2) {
        // Already pooled: [batch, dim].
        for (let b = 0; b < batch; b++) {
          vectors.push(normalize(data.slice(b * dims[1], (b + 1) * dims[1])));
        }
        return vectors;
      }
      const [, seq, dim] = dims;
      for (let b = 0; b < batch; b++) {
        const mean = new Float32Array(dim);
        const mask = encodings[b].attention_mask;
        let count = 0;
        for (let t = 0; t < Math.min(seq, mask.length); t++) {
          if (!mask[t]) continue;
          count++;
          const row = (b * seq + t) * dim;
          for (let j = 0; j < dim; j++) mean[j] += data[row + j];
        }
        for (let j = 0; j < dim; j++) mean[j] /= Math.max(1, count);
        vectors.push(normalize(mean));
      }
      return vectors;
    } finally {
      for (const r of Object.values(results)) r.dispose();
    }
  }

  close(): void {
    void this.session.release();
  }
}
