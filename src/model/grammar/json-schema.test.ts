import Ajv from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestError } from '../../errors.js';
import type { GpuContext } from '../../gpu/context.js';
import { acquireNodeGpu } from '../../node/gpu.js';
import { Rng } from '../../util/rng.js';
import { LanguageModel } from '../language-model.js';
import { tinyModel } from '../testing/tiny-model.js';
import { bytesSource } from '../weights.js';
import { JsonMatcher, type JsonSchema } from './json-schema.js';

// Grammar-constrained sampling: the schema matcher on its own (every prefix it allows can be
// completed into a valid document), then generations on generated models whose output must
// parse and validate.

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 12 },
    age: { type: 'integer' },
    score: { type: 'number' },
    tags: { type: 'array', items: { enum: ['red', 'green', 'blue'] }, maxItems: 3 },
    active: { type: 'boolean' },
    address: {
      type: 'object',
      properties: { city: { type: 'string' }, zip: { type: 'string', maxLength: 5 } },
      required: ['city'],
    },
    note: { anyOf: [{ type: 'string', maxLength: 8 }, { type: 'null' }] },
  },
  required: ['name', 'age', 'tags'],
} satisfies JsonSchema;

const ajv = new Ajv({ strict: false });
const validate = ajv.compile(schema);
const enc = new TextEncoder();

describe('JSON Schema matcher', () => {
  it('completes documents the schema allows, refuses the rest', () => {
    const m = JsonMatcher.start(schema);
    for (const doc of [
      '{"name":"bo","age":-3,"tags":[]}',
      '{"name":"bo","age":0,"score":1.5,"tags":["red","blue"],"active":false,"note":null}',
      '{"name":"a","age":12,"tags":["green"],"address":{"city":"Oslo","zip":"0150"},"note":"hi"}',
    ]) {
      expect(m.feedBytes(enc.encode(doc))?.complete, doc).toBe(true);
      expect(validate(JSON.parse(doc)), doc).toBe(true);
    }
    for (const doc of [
      '{"age":1,"tags":[]}', // name is required
      '{"name":"","age":1,"tags":[]}', // minLength 1
      '{"name":"a","age":1.5,"tags":[]}', // an integer
      '{"name":"a","age":1,"tags":["pink"]}', // not in the enum
      '{"name":"a","age":1,"tags":[],"extra":1}', // no additional properties
      '{"age":1,"name":"a","tags":[]}', // properties in the schema's order
      '{"name":"a","age":1,"tags":["red","red","red","red"]}', // maxItems 3
      '{ "name":"a","age":1,"tags":[]}', // compact: no whitespace
    ]) {
      expect(m.feedBytes(enc.encode(doc))?.complete ?? false, doc).toBe(false);
    }
  });

  it('every random prefix it allows completes into a document that validates', () => {
    const rng = new Rng(7);
    const alphabet = enc.encode('{}[]",:-.0123456789abcdefghijklmnopqrstuvwxyz" ntrueflsnu');
    for (let trial = 0; trial < 300; trial++) {
      let m = JsonMatcher.start(schema);
      let text = '';
      const steps = rng.int(0, 80);
      for (let i = 0; i < steps && !m.complete; i++) {
        const allowed = [...alphabet].filter((b) => m.feed(b));
        if (allowed.length === 0) break;
        const b = allowed[rng.int(0, allowed.length - 1)];
        m = m.feed(b)!;
        text += String.fromCharCode(b);
      }
      const done = text + new TextDecoder().decode(m.completion());
      const parsed = JSON.parse(done);
      expect(validate(parsed), `${done}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(JsonMatcher.start(schema).feedBytes(enc.encode(done))?.complete).toBe(true);
    }
  });

  it('refuses what it cannot honour, by name', () => {
    expect(() => JsonMatcher.start({ type: 'string', pattern: '^a+$' })).toThrow(RequestError);
    expect(() => JsonMatcher.start({ type: 'string', pattern: '^a+$' })).toThrow(
      /"pattern" is not supported/,
    );
    expect(() => JsonMatcher.start({ type: 'object', properties: {}, required: ['x'] })).toThrow(
      /required "x" is not among its properties/,
    );
  });
});

describe('constrained generation', () => {
  let gpu: GpuContext;
  let model: LanguageModel;
  beforeAll(async () => {
    gpu = await acquireNodeGpu();
    const { bytes } = tinyModel({ architecture: 'qwen2', weights: 'Q8_0', layers: 1, seed: 41 });
    // Nine sequences: eight sessions generate at once (batched steps, a mask per row).
    model = await LanguageModel.load(gpu, bytesSource(bytes), {
      contextSize: 256,
      maxBatch: 64,
      sequences: 9,
    });
  });
  afterAll(() => {
    model?.destroy();
    gpu?.destroy();
  });

  it('json_schema: 50 seeded prompts give output that parses and validates', async () => {
    let stopped = 0;
    const seeds = Array.from({ length: 50 }, (_, i) => i + 1);
    const results = await Promise.all(
      seeds.map(
        (seed) =>
          model.generate(`Describe person number ${seed} as JSON.`, {
            seed,
            temperature: 1,
            maxTokens: 36,
            responseFormat: { type: 'json_schema', schema },
            session: `s${seed % 8}`,
          }).result,
      ),
    );
    for (const [i, r] of results.entries()) {
      const seed = seeds[i];
      const parsed = JSON.parse(r.text);
      expect(validate(parsed), `seed ${seed}: ${r.text} ${ajv.errorsText(validate.errors)}`).toBe(
        true,
      );
      if (r.finishReason === 'stop') stopped++;
    }
    console.log(`json_schema: 50/50 valid, ${stopped} closed by the model, the rest completed`);
  });

  it('json_object: any object, closed within the budget', async () => {
    const results = await Promise.all(
      Array.from(
        { length: 8 },
        (_, seed) =>
          model.generate('Some JSON please', {
            seed,
            temperature: 1,
            maxTokens: 24,
            responseFormat: { type: 'json_object' },
            session: `s${seed % 8}`,
          }).result,
      ),
    );
    for (const r of results) {
      const parsed = JSON.parse(r.text);
      expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
      expect(r.tokens.length).toBeLessThanOrEqual(24 + 8);
    }
  });
});
