// The offload policy: declarative JSON that says where the cloud is and when work may or must
// go there. It is checked against a JSON Schema (ajv) and every error names the field at fault
// ("/rules/maxLocalPromptTokens: must be >= 1").
import { Ajv, type ErrorObject } from 'ajv';
import { RequestError } from '../errors.js';

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
  /** Hard rules for `auto` placement; any that fires decides. */
  rules?: {
    /** Prompts longer than this (local tokens) go to the cloud. */
    maxLocalPromptTokens?: number;
    /** When local prefill + decode would take longer (from telemetry), go to the cloud. */
    latencyBudgetMs?: number;
    /** More local requests waiting than this: go to the cloud. */
    maxLocalQueue?: number;
    /** On battery below this level (0..1) and not charging: go to the cloud. */
    minBatteryLevel?: number;
    /** The local model needs shader-f16: without it, go to the cloud. */
    requireF16?: boolean;
    /** Devices reporting less memory than this (navigator.deviceMemory, GB): go to the cloud. */
    minDeviceMemoryGB?: number;
  };
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
    rules: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxLocalPromptTokens: { type: 'integer', minimum: 1 },
        latencyBudgetMs: positive,
        maxLocalQueue: count,
        minBatteryLevel: { type: 'number', minimum: 0, maximum: 1 },
        requireF16: { type: 'boolean' },
        minDeviceMemoryGB: positive,
      },
    },
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
