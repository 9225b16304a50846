// Where one request runs: the agent's placement, privacy, and for `auto` the policy's hard
// rules in order (the first that fires decides), then — where every rule leaves both sides
// open — a contextual bandit that has learned from outcomes. Every decision says why.
import type { OffloadPolicy } from './policy.js';
import { hardRules } from './rules/index.js';
import { localLatencyMs } from './rules/latency-budget.js';

export { localLatencyMs };

export type Target = 'local' | 'cloud';

export interface PlacementInput {
  placement: 'local' | 'cloud' | 'auto';
  private: boolean;
  /** Why the cloud cannot be used (none configured, breaker open), or undefined. */
  cloudProblem?: string;
  /** Why the local model cannot be used (no WebGPU, host down), or undefined. */
  localProblem?: string;
  promptTokens: number;
  maxTokens: number;
  local: {
    /** From telemetry (the model's last generations); undefined before the first. */
    prefillTokensPerSecond?: number;
    decodeTokensPerSecond?: number;
    queue: number;
    f16: boolean;
  };
  battery?: { level: number; charging: boolean };
  /** The device's memory in GB as the browser reports it (navigator.deviceMemory). */
  deviceMemoryGB?: number;
  spent: { tokens: number; usd: number };
}

export interface PlacementDecision {
  target: Target;
  /** The rule that decided ('placement', 'private', 'maxLocalPromptTokens', 'bandit', …). */
  rule: string;
  reason: string;
  /** The bandit's context, when it decided (for its update after the outcome). */
  context?: number[];
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The bandit's context: bias, prompt size, local queue, and expected latency vs budget. */
export function banditContext(input: PlacementInput, policy: OffloadPolicy): number[] {
  const latency = localLatencyMs(input);
  const budget = policy.rules?.latencyBudgetMs ?? 10_000;
  return [
    1,
    Math.log1p(input.promptTokens) / 8,
    Math.min(input.local.queue, 16) / 16,
    latency === undefined ? 0.5 : Math.min(latency / budget, 2) / 2,
  ];
}

export interface Chooser {
  choose(context: number[]): { arm: Target; scores: Record<Target, number> };
}

export function decidePlacement(
  policy: OffloadPolicy,
  input: PlacementInput,
  bandit?: Chooser,
): PlacementDecision {
  const local = (rule: string, reason: string): PlacementDecision => ({
    target: 'local',
    rule,
    reason,
  });
  const cloud = (rule: string, reason: string): PlacementDecision => ({
    target: 'cloud',
    rule,
    reason,
  });
  const budget = policy.budget ?? {};
  const overBudget =
    budget.tokensPerDay !== undefined && input.spent.tokens >= budget.tokensPerDay
      ? `today's cloud tokens ${fmt(input.spent.tokens)} reached the budget of ${fmt(budget.tokensPerDay)}`
      : budget.usdPerDay !== undefined && input.spent.usd >= budget.usdPerDay
        ? `today's cloud spend $${input.spent.usd.toFixed(4)} reached the budget of $${budget.usdPerDay}`
        : undefined;

  if (input.placement === 'local') return local('placement', 'the agent is placed local');
  if (input.private) {
    return local('private', 'the agent is private: its requests never leave the device');
  }
  if (input.placement === 'cloud') {
    if (input.cloudProblem) return local('cloud-unavailable', input.cloudProblem);
    if (overBudget) return local('budget', overBudget);
    return cloud('placement', 'the agent is placed in the cloud');
  }
  // auto
  if (input.cloudProblem) return local('cloud-unavailable', input.cloudProblem);
  if (input.localProblem) return cloud('local-unavailable', input.localProblem);
  if (overBudget) return local('budget', overBudget);
  const rules = policy.rules ?? {};
  for (const rule of hardRules) {
    const reason = rule.decide(rules, input);
    if (reason !== undefined) return cloud(rule.name, reason);
  }
  if (bandit && policy.learn !== false) {
    const context = banditContext(input, policy);
    const { arm, scores } = bandit.choose(context);
    return {
      target: arm,
      rule: 'bandit',
      reason:
        `within every hard rule; learned outcomes favour ${arm} ` +
        `(score local ${scores.local.toFixed(3)}, cloud ${scores.cloud.toFixed(3)})`,
      context,
    };
  }
  return local('default', 'within every hard rule: local by default');
}
