import Ajv from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../gpu/context.js';
import { acquireNodeGpu } from '../../node/gpu.js';
import { LanguageModel } from '../language-model.js';
import { tinyModel } from '../testing/tiny-model.js';
import { bytesSource } from '../weights.js';
import type { ChatMessage } from './template.js';
import { LLAMA3_2_1B_INSTRUCT, QWEN2_5_0_5B_INSTRUCT } from './testing/reference-templates.js';
import { parseToolCalls, toolCallStyle, type ToolDefinition } from './tools.js';

// Tool calling over a model's own chat template: calls parsed in the template's format, and a
// required call generated under the tools' schemas on a generated model.

const tools: ToolDefinition[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string', maxLength: 20 },
          unit: { enum: ['celsius', 'fahrenheit'] },
        },
        required: ['city'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'add',
      parameters: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
      },
    },
  },
];

describe('tool call formats', () => {
  it('knows a template by how it asks for calls', () => {
    expect(toolCallStyle(QWEN2_5_0_5B_INSTRUCT)).toBe('hermes');
    expect(toolCallStyle(LLAMA3_2_1B_INSTRUCT)).toBe('json');
  });

  it('parses Hermes blocks, Llama JSON and Mistral lists; anything else stays text', () => {
    const hermes = parseToolCalls(
      'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>',
      'hermes',
      tools,
    );
    expect(hermes).toEqual({
      content: 'Let me look.',
      calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }],
    });
    expect(
      parseToolCalls('{"name": "add", "parameters": {"a": 1, "b": 2}}', 'json', tools),
    ).toEqual({ content: null, calls: [{ name: 'add', arguments: { a: 1, b: 2 } }] });
    expect(
      parseToolCalls(
        '[TOOL_CALLS][{"name": "add", "arguments": {"a": 1, "b": 2}}]',
        'mistral',
        tools,
      ).calls,
    ).toEqual([{ name: 'add', arguments: { a: 1, b: 2 } }]);
    // An unknown function, or JSON that does not parse, is text.
    expect(
      parseToolCalls('<tool_call>{"name": "rm", "arguments": {}}</tool_call>', 'hermes', tools),
    ).toMatchObject({ calls: [] });
    expect(parseToolCalls('{"name": "add", "argu', 'json', tools)).toEqual({
      content: '{"name": "add", "argu',
      calls: [],
    });
  });
});

describe('tool calls on a generated model', () => {
  let gpu: GpuContext;
  let model: LanguageModel;
  const ajv = new Ajv({ strict: false });
  beforeAll(async () => {
    gpu = await acquireNodeGpu();
    const { bytes } = tinyModel({
      architecture: 'qwen2',
      weights: 'Q8_0',
      layers: 1,
      seed: 51,
      contextLength: 2048,
    });
    model = await LanguageModel.load(gpu, bytesSource(bytes), {
      contextSize: 1024,
      maxBatch: 256,
      sequences: 5,
      chatTemplate: QWEN2_5_0_5B_INSTRUCT,
    });
  });
  afterAll(() => {
    model?.destroy();
    gpu?.destroy();
  });

  const ask: ChatMessage[] = [{ role: 'user', content: 'What is the weather in Oslo?' }];

  it("a required call names a tool and its arguments match that tool's parameters", async () => {
    // One after another: the later sessions borrow the first one's prompt blocks (the prefix
    // cache), so only the tail of the ~800-token prompt runs again.
    const results = [];
    for (const seed of [1, 2, 3, 4]) {
      const generation = model.generate(ask, {
        seed,
        temperature: 1,
        maxTokens: 40,
        tools,
        toolChoice: 'required',
        session: `t${seed}`,
      });
      results.push(await generation.result);
    }
    for (const r of results.slice(1)) {
      expect(r.timings.reusedPromptTokens).toBeGreaterThan(r.promptTokens.length - 32);
    }
    for (const r of results) {
      expect(r.toolCalls).toHaveLength(1);
      const [call] = r.toolCalls!;
      const tool = tools.find((t) => t.function.name === call.name)!;
      expect(tool).toBeDefined();
      const validate = ajv.compile(tool.function.parameters as object);
      expect(validate(call.arguments), `${r.text}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(r.content).toBeNull();
    }
    // The prompt told the model about the tools, in its template's words.
    const prompt = model.tokenizer.decode(results[0].promptTokens, { special: true });
    expect(prompt).toContain('<tools>');
    expect(prompt).toContain('"name": "get_weather"');
    expect(prompt.endsWith('<|im_start|>assistant\n<tool_call>\n')).toBe(true);
  });

  it('a named choice calls that function', async () => {
    const r = await model.generate(ask, {
      seed: 9,
      temperature: 1,
      maxTokens: 40,
      tools,
      toolChoice: { type: 'function', function: { name: 'add' } },
    }).result;
    expect(r.toolCalls?.map((c) => c.name)).toEqual(['add']);
    expect(Object.keys(r.toolCalls![0].arguments)).toEqual(['a', 'b']);
  });

  it("the call and its result render into the next turn in the template's format", () => {
    const turn: ChatMessage[] = [
      ...ask,
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
    ];
    const prompt = model.tokenizer.decode(model.promptTokens(turn, tools), { special: true });
    expect(prompt).toContain(
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>',
    );
    expect(prompt).toContain('<tool_response>\n{"temp": 21}\n</tool_response>');
  });

  it('a template without tools says so', async () => {
    const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q8_0', layers: 1, seed: 52 });
    const plain = await LanguageModel.load(gpu, bytesSource(bytes), { contextSize: 128 });
    try {
      await expect(plain.generate(ask, { tools }).result).rejects.toThrow(
        /chat template does not render tools/,
      );
    } finally {
      plain.destroy();
    }
  });
});
