// The offload policy: declarative JSON that says where the cloud is and when work may or must
// go there. It is checked against a JSON Schema (ajv) and every error names the field at fault
// ("/rules/maxLocalPromptTokens: must be >= 1").
import { Ajv, type ErrorObject } from 'ajv';
import { RequestError } from '../errors.js';
import { rulesSchema, type PolicyRules } from './rules/index.js';

export interface OffloadPolicy {
  version: 1;
  /** The cloud tier: any OpenAI-compatible endpoint. */
  cloud?: {
    baseURL: string;
    /** The model name the endpoint serves. */
    model: string;
    timeoutMs?: number;
    retries?: number;
    breaker?: { failures?: number; cooldownMs?: number };
  };
  /** Hard rules for `auto` placement (rules/): the first that fires decides. */
  rules?: PolicyRules;
  /** Cloud spending per day (UTC); past it, work stays local. */
  budget?: {
    tokensPerDay?: number;
    usdPerDay?: number;
    /** Price per million prompt and completion tokens, for the money budget. */
    usdPerMillionPromptTokens?: number;
    usdPerMillionCompletionTokens?: number;
  };
  /** Fallback both ways (default true): a failed cloud call finishes locally, and back. */
  fallback?: { cloudToLocal?: boolean; localToCloud?: boolean };
  /** Redact PII and secrets before anything is sent (default true). */
  redact?: boolean;
  /** Within the hard rules, learn from outcomes which side serves `auto` better (default true). */
  learn?: boolean;
}

const positive = { type: 'number', exclusiveMinimum: 0 } as const;
const count = { type: 'integer', minimum: 0 } as const;

export const offloadPolicySchema = {
  $id: 'https://agentgpu.dev/schemas/offload-policy.json',
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: {
    version: { const: 1 },
    cloud: {
      type: 'object',
      additionalProperties: false,
      required: ['baseURL', 'model'],
      properties: {
        baseURL: { type: 'string', pattern: '^https?://[^\\s@]+$' },
        model: { type: 'string', minLength: 1 },
        timeoutMs: positive,
        retries: { type: 'integer', minimum: 0, maximum: 10 },
        breaker: {
          type: 'object',
          additionalProperties: false,
          properties: { failures: { type: 'integer', minimum: 1 }, cooldownMs: positive },
        },
      },
    },
    rules: rulesSchema,
    budget: {
      type: 'object',
      additionalProperties: false,
      properties: {
        tokensPerDay: count,
        usdPerDay: { type: 'number', minimum: 0 },
        usdPerMillionPromptTokens: { type: 'number', minimum: 0 },
        usdPerMillionCompletionTokens: { type: 'number', minimum: 0 },
      },
    },
    fallback: {
      type: 'object',
      additionalProperties: false,
      properties: { cloudToLocal: { type: 'boolean' }, localToCloud: { type: 'boolean' } },
    },
    redact: { type: 'boolean' },
    learn: { type: 'boolean' },
  },
} as const;

/** What is wrong with a policy: one line per problem, each naming its field. */
export class PolicyError extends RequestError {
  static {
    this.prototype.name = 'PolicyError';
  }
  readonly problems: string[];
  constructor(problems: string[]) {
    super(
      `the offload policy is not valid:\n${problems.map((p) => `  ${p}`).join('\n')}`,
      'policy',
    );
    this.problems = problems;
  }
}

let validator: ReturnType<Ajv['compile']> | undefined;

function describe(e: ErrorObject): string {
  const at = e.instancePath || '/';
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    return `${at === '/' ? '' : at}/${extra}: is not a policy field`;
  }
  if (e.keyword === 'required') {
    return `${at === '/' ? '' : at}/${(e.params as { missingProperty: string }).missingProperty}: is required`;
  }
  if (e.keyword === 'const') {
    return `${at}: must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
  }
  if (e.keyword === 'pattern') return `${at}: must be an http(s) URL without credentials`;
  return `${at}: ${e.message ?? 'is not valid'}`;
}

/** Checks a policy (parsed JSON, or its text) and returns it typed; PolicyError otherwise. */
export function parseOffloadPolicy(input: unknown): OffloadPolicy {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new PolicyError([`/: not JSON (${(error as Error).message})`]);
    }
  }
  validator ??= new Ajv({ allErrors: true, strict: true }).compile(offloadPolicySchema);
  if (!validator(value)) throw new PolicyError((validator.errors ?? []).map(describe));
  return value as OffloadPolicy;
}
