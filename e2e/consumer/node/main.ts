// A Node app on agentgpu: 'agentgpu/node', and 'agentgpu' itself, which Node resolves to the
// same build. Prints one JSON line: the reply, or the error that said what was missing.
import * as agentgpu from 'agentgpu';
import {
  acquireNodeGpu,
  createEngine,
  LanguageModel,
  OnnxEmbedder,
  serve,
  WebGpuUnavailableError,
} from 'agentgpu/node';

const model = process.argv[2];
const sameBuild = agentgpu.createEngine === createEngine;
// What the README names for Node, defined in the build it resolves to.
const documented = { acquireNodeGpu, LanguageModel, OnnxEmbedder, serve };
const missing = Object.entries(documented).filter(([, value]) => value === undefined);
if (missing.length > 0) throw new Error(`not exported: ${missing.map(([name]) => name).join()}`);
try {
  const engine = await createEngine({ models: [{ id: 'tiny', source: model }] });
  const reply = await engine.chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'user', content: 'Hello!' }],
    max_tokens: 4,
    temperature: 0,
  });
  await engine.close();
  console.log(JSON.stringify({ sameBuild, text: reply.choices[0].message.content }));
} catch (error) {
  const e = error as Error;
  const unavailable = error instanceof WebGpuUnavailableError;
  console.log(
    JSON.stringify({ sameBuild, error: { name: e.name, message: e.message, unavailable } }),
  );
}
