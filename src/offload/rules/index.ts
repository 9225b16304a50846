import { latencyBudgetMs } from './latency-budget.js';
import { maxLocalPromptTokens } from './max-local-prompt.js';
import { maxLocalQueue } from './max-local-queue.js';
import { minBatteryLevel } from './min-battery.js';
import { minDeviceMemoryGB } from './min-device-memory.js';
import { requireF16 } from './require-f16.js';
import type { SchemaValue } from './rule.js';

// The hard rules of `auto` placement, in the order they are tried (the first that fires
// decides). Adding one is its module and its line here: the policy's schema and type follow.

export const hardRules = [
  requireF16,
  minDeviceMemoryGB,
  maxLocalPromptTokens,
  minBatteryLevel,
  maxLocalQueue,
  latencyBudgetMs,
] as const;

type Rules = (typeof hardRules)[number];

/** The `rules` of an offload policy: each hard rule's value, by name. */
export type PolicyRules = {
  [R in Rules as R['name']]?: SchemaValue<R['schema']>;
};

/** The JSON Schema of the policy's `rules`, from the rules' own schemas. */
export const rulesSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(hardRules.map((r) => [r.name, r.schema])),
} as const;
