import { type PenaltySettings } from '../kernels/penalties.js';
import type { SamplingSettings } from '../kernels/sample.js';
import type { Rng } from '../util/rng.js';
import { type ChatMessage } from './chat/index.js';
import type { StopStringFilter } from './stop-strings.js';
import type { JsonConstraint } from './grammar/constraint.js';
import { type Conversation, type ToolPlan } from './chat/prompt.js';
import type { GenerateOptions, GeneratedToken, GenerationResult } from './generation.js';

// What LanguageModel's scheduler keeps of each generation and each session.

/** A generation's place in the scheduler. */
export interface Request {
  prompt: number[];
  options: GenerateOptions;
  session: string;
  /** interactive (0) before background (1); then arrival. */
  priority: number;
  arrival: number;
  emit: (t: GeneratedToken) => void;
  resolve: (r: GenerationResult) => void;
  reject: (error: unknown) => void;
  /** waiting: its session is busy or no sequence is free. */
  phase: 'waiting' | 'prefill' | 'decode' | 'done';
  sequence: number;
  /** Prompt tokens in the cache (reused or run). */
  fed: number;
  reused: number;
  /** The sampled token still to run through the model. */
  pending?: number;
  tokens: number[];
  history: number[];
  rng: Rng;
  filter: StopStringFilter;
  bytes: TextDecoder;
  stops: Set<number>;
  maxTokens: number;
  settings: SamplingSettings;
  penalty?: PenaltySettings;
  lastN: number;
  constraint?: JsonConstraint;
  /** The tools offered, the template's call format, and whether the reply is a forced call. */
  tools?: ToolPlan;
  submitted: number;
  prefillStarted: number;
  firstAt: number;
  /** continueSession: the new turn's messages; the prompt is made when the session is free. */
  turn?: readonly ChatMessage[];
  /** Generated tokens fed to the cache so far. */
  fedTokens: number;
}

export interface Session extends Conversation {
  sequence: number;
  busy: boolean;
  lastUsed: number;
  /**
   * Every token the session's cache was fed, in order, evicted ones included: a prompt that
   * starts with it continues the cache, even after its window slid.
   */
  history: number[];
  /** continueSession: the conversation so far, its last reply included. */
  transcript?: ChatMessage[];
  /** Reply tokens sampled but never fed (a generation cut by maxTokens): fed next turn. */
  unfed: number[];
}

export const newSession = (sequence: number): Session => ({
  sequence,
  busy: false,
  lastUsed: 0,
  history: [],
  unfed: [],
});
