import type { ToolCall, ToolChoice, ToolDefinition } from './chat/tools.js';
import type { ResponseFormat } from './grammar/constraint.js';

// What a generation takes and gives: its options, its tokens as they come, its result and
// timings, where it runs (a session, a priority), and the KV events and scheduler counters a
// LanguageModel reports.

/** How one generation samples and when it ends. Defaults are llama.cpp's. */
export interface GenerateOptions {
  /** Tokens to generate at most (default 256). */
  maxTokens?: number;
  /** 0: greedy (default 0.8). */
  temperature?: number;
  /** 0: off (default 40). */
  topK?: number;
  /** 1: off (default 0.95). */
  topP?: number;
  /** 0: off (default 0.05). */
  minP?: number;
  /** 1: off (default). */
  repeatPenalty?: number;
  /** 0: off (default). */
  frequencyPenalty?: number;
  /** 0: off (default). */
  presencePenalty?: number;
  /** Recent tokens the penalties look at (default 64). */
  penaltyLastN?: number;
  /** Replays a sampled generation (default: random). */
  seed?: number;
  /** Text that ends the generation; it is not part of the output. */
  stop?: readonly string[];
  /** Keep going past end-of-generation tokens. */
  ignoreEos?: boolean;
  /**
   * Skip the prefill of the prompt's first tokens when the cache already holds them from the
   * previous generation (multi-turn chat). Default true.
   */
  reusePrefix?: boolean;
  /**
   * 'json_object' or 'json_schema': grammar-constrained sampling, so the output parses (and
   * matches the schema). It ends when the document is complete; when maxTokens would cut it
   * short, its shortest completion is appended (finish reason 'length').
   */
  responseFormat?: ResponseFormat;
  /**
   * Functions the model may call (chat messages only; the chat template must render tools).
   * The result's toolCalls holds the calls parsed from the reply in the template's format.
   */
  tools?: readonly ToolDefinition[];
  /** 'auto' (default), 'none', 'required' or a function by name: the last two force a call. */
  toolChoice?: ToolChoice;
  /**
   * Text the reply already starts with (chat messages): rendered after the generation prompt
   * and continued, not repeated in the output — a reply resumed after a dropped connection.
   */
  assistantPrefix?: string;
  signal?: AbortSignal;
}

/**
 * One generated token and the text it completes (empty while a character's bytes or a possible
 * stop string are pending). A last piece of held-back text may come without a token.
 */
export interface GeneratedToken {
  token?: number;
  text: string;
}

export interface GenerationTimings {
  promptTokens: number;
  /** Prompt tokens whose K and V the cache already held: no prefill for them. */
  reusedPromptTokens: number;
  prefillMs: number;
  prefillTokensPerSecond: number;
  /** Tokens after the first, each one decode step. */
  decodeTokens: number;
  decodeMs: number;
  decodeTokensPerSecond: number;
  timeToFirstTokenMs: number;
}

export interface GenerationResult {
  promptTokens: number[];
  tokens: number[];
  text: string;
  /** 'stop': an end-of-generation token or a stop string; 'length': maxTokens or the context. */
  finishReason: 'stop' | 'length';
  timings: GenerationTimings;
  /** With tools: the calls in the reply (none: it answered in text). */
  toolCalls?: ToolCall[];
  /** With tools: the reply without its calls (null when it was only calls). */
  content?: string | null;
}

/** A running generation: iterate for tokens as they come; `result` settles when it ends. */
export interface Generation extends AsyncIterable<GeneratedToken> {
  readonly result: Promise<GenerationResult>;
}

/** Where a generation runs: a named session keeps its KV sequence between generations. */
export interface ScheduleOptions {
  /**
   * The conversation this generation continues (default 'default'): its KV sequence is kept
   * after the generation, so the next one skips the prefill of the shared prompt start. A
   * session runs one generation at a time; generations of different sessions are batched.
   */
  session?: string;
  /** 'interactive' (default) steps before 'background' when both wait for the GPU. */
  priority?: 'interactive' | 'background';
  /**
   * The messages are only the conversation's next turn: the session keeps the conversation
   * so far (and its reply), renders just the new turn after it, and feeds only that — so a
   * conversation of thousands of messages costs each turn its own tokens, even after the
   * window slid. Chat messages only.
   */
  continueSession?: boolean;
}

/**
 * Tokens that left the KV cache: 'window', a session's oldest tokens past its sliding window
 * (with their text, for long-term memory); 'idle', an idle session emptied because the block
 * pool was full; 'session', the least recently used idle session closed so a new one has a
 * sequence.
 */
export type KvEvent =
  | { kind: 'window'; session: string; tokens: number; range: [number, number]; text: string }
  | { kind: 'idle'; session: string; tokens: number; forSession: string; freedBlocks: number }
  | { kind: 'session'; session: string; tokens: number; forSession: string };

/** A model's scheduler counters, for telemetry. */
export interface SchedulerStats {
  /** Generations waiting for their session or a free sequence. */
  waiting: number;
  /** Generations in prefill or decode. */
  running: number;
  sessions: number;
  steps: number;
  /** Rows (tokens) the steps ran, prefill and decode. */
  prefillTokens: number;
  decodeTokens: number;
  /** Texts embedded (LanguageModel.embed). */
  embedded: number;
}
