import type { PlacementInput } from '../placement.js';
import { fmt, hardRule } from './rule.js';

/** When local prefill + decode would take longer (from telemetry), go to the cloud. */
export const latencyBudgetMs = hardRule({
  name: 'latencyBudgetMs',
  schema: { type: 'number', exclusiveMinimum: 0 },
  cloudWhen: (budget, input) => {
    const latency = localLatencyMs(input);
    if (latency === undefined || latency <= budget) return undefined;
    const { prefillTokensPerSecond: prefill, decodeTokensPerSecond: decode } = input.local;
    return (
      `local would take ~${fmt(latency)} ms (prefill ${prefill!.toFixed(0)} tok/s, ` +
      `decode ${decode!.toFixed(1)} tok/s) > budget ${fmt(budget)} ms`
    );
  },
});

/** Estimated local time for a request, from the model's measured speeds. */
export function localLatencyMs(input: PlacementInput): number | undefined {
  const { prefillTokensPerSecond: p, decodeTokensPerSecond: d } = input.local;
  if (!p || !d) return undefined;
  return (input.promptTokens / p + input.maxTokens / d) * 1000;
}
