// A web app that uses agentgpu as the README's "Install in your app" says: the same file is
// built by vite (dev server and production build) and by webpack 5, from the packed tarball.
// It reports what happened on `window.consumer` for the e2e test (e2e/consumer.spec.ts).
import {
  AgentGpuError,
  createEngine,
  GgufError,
  loadEmbedder,
  type ModelLoadProgress,
} from 'agentgpu';
import { missing } from './documented.js';

export interface ConsumerReport {
  progress: ModelLoadProgress[];
  text: string;
  chunks: number;
  error: { name: string; message: string; isGgufError: boolean; isAgentGpuError: boolean };
  embedding: { backend: string; dims: number; norm: number };
  /** Names the README documents that the built app found undefined. */
  missing: string[];
  failure?: string;
}

declare global {
  interface Window {
    consumer?: ConsumerReport | { failure: string };
  }
}

const status = document.querySelector<HTMLElement>('#status')!;
const output = document.querySelector<HTMLElement>('#output')!;

async function main(): Promise<ConsumerReport> {
  const progress: ModelLoadProgress[] = [];
  const engine = await createEngine({
    // A relative URL: resolved against the page, wherever the bundler put the worker.
    models: [{ id: 'tiny', source: 'models/tiny.gguf' }],
    onProgress: (p) => {
      progress.push(p);
      status.textContent = p.text;
    },
  });
  let text = '';
  let chunks = 0;
  try {
    const stream = await engine.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'Hello!' }],
      stream: true,
      max_tokens: 8,
      temperature: 0,
    });
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      chunks++;
      output.textContent = text;
    }
  } finally {
    await engine.close();
  }

  // An error thrown inside the model-host worker, caught here by its class.
  const error = await createEngine({
    models: [{ id: 'broken', source: 'models/not-a-model.gguf' }],
  }).then(
    () => {
      throw new Error('a file that is not GGUF loaded');
    },
    (e: unknown) => e as Error,
  );

  // Sentence embeddings: onnxruntime-web in a worker of its own.
  const embedder = await loadEmbedder({
    model: 'models/embedder.onnx',
    tokenizer: 'models/embedder.tokenizer.json',
  });
  const [vector] = await embedder.embed(['agents that remember']);
  embedder.close();

  return {
    progress,
    text,
    chunks,
    error: {
      name: error.name,
      message: error.message,
      isGgufError: error instanceof GgufError,
      isAgentGpuError: error instanceof AgentGpuError,
    },
    embedding: {
      backend: embedder.backend,
      dims: vector.length,
      norm: Math.hypot(...vector),
    },
    missing: missing(),
  };
}

main().then(
  (report) => {
    window.consumer = report;
    status.textContent = 'done';
  },
  (error: unknown) => {
    window.consumer = { failure: `${(error as Error).name}: ${(error as Error).message}` };
    status.textContent = `failed: ${window.consumer.failure}`;
  },
);
