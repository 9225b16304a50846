// Edge-to-cloud offload: an OpenAI-compatible client, the policy, placement, redaction, learning.
export {
  CircuitBreaker,
  OpenAICompatibleClient,
  retryAfterMs,
  sseData,
  type CallOptions,
  type EndpointEvent,
  type EndpointOptions,
  type StreamProgress,
} from './client.js';
export { Offloader, type CloudReply, type OffloadOptions } from './offloader.js';
export {
  PolicyError,
  offloadPolicySchema,
  parseOffloadPolicy,
  type OffloadPolicy,
} from './policy.js';
export {
  banditContext,
  decidePlacement,
  localLatencyMs,
  type PlacementDecision,
  type PlacementInput,
  type Target,
} from './placement.js';
export {
  LinUcbBandit,
  freshState,
  indexedDbStateStore,
  memoryStateStore,
  reward,
  type OffloadState,
  type OffloadStateStore,
  type Outcome,
} from './bandit.js';
export { Redactor, ibanValid, luhn, type PiiKind } from './redact.js';
