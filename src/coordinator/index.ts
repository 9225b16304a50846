// The coordinator's public surface, shared by the page and Node entries.
export {
  Engine,
  defineAgent,
  type AgentDefinition,
  type EngineOptions,
  type ModelSpec,
} from './engine.js';
export type { HostConnection, SpawnHost } from '../worker/hosts.js';
export type * from '../api/openai.js';
export { AuditLog, type AuditQuery, type Decision, type DecisionKind } from './audit.js';
export type {
  AgentTelemetry,
  HostTelemetry,
  TelemetryEvent,
  TelemetrySnapshot,
} from './telemetry.js';
export {
  checkTaskGraph,
  runTaskGraph,
  type TaskGraph,
  type TaskGraphResult,
  type TaskStep,
  type TaskStepResult,
} from './task-graph.js';
export type { ResponseFormat } from '../model/grammar/constraint.js';
export { JsonMatcher, compileSchema, type JsonSchema } from '../model/grammar/json-schema.js';
