// The ranges of the generation options, one table for every place they enter: the CLI's flags
// (--top-p), the OpenAI API's parameters (top_p) and LanguageModel's options (topP). Each
// checks its own names against it, so the rules and the messages are the same in all three.

export interface OptionRange {
  min: number;
  max: number;
  integer?: boolean;
  /** `min` itself is not allowed (a penalty that divides by it). */
  aboveMin?: boolean;
}

/** Generation options by LanguageModel's names. */
export const GENERATION_RANGES = {
  /** OpenAI's least is 1; LanguageModel takes 0 too (nothing generated). */
  maxTokens: { min: 1, max: 1 << 20, integer: true },
  temperature: { min: 0, max: 2 },
  topK: { min: 0, max: 1 << 20, integer: true },
  topP: { min: 0, max: 1 },
  minP: { min: 0, max: 1 },
  repeatPenalty: { min: 0, max: 10, aboveMin: true },
  frequencyPenalty: { min: -2, max: 2 },
  presencePenalty: { min: -2, max: 2 },
  seed: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, integer: true },
} as const satisfies Record<string, OptionRange>;

/** What is wrong with `value` as option `label` (as the user wrote its name), if anything. */
export function rangeProblem(label: string, value: unknown, r: OptionRange): string | undefined {
  const kind = r.integer ? 'an integer' : 'a number';
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (r.integer && !Number.isInteger(value))
  ) {
    return `${label} must be ${kind}, got ${JSON.stringify(value) ?? String(value)}`;
  }
  const low = r.aboveMin ? value <= r.min : value < r.min;
  if (low || value > r.max) {
    const from = r.aboveMin ? `above ${r.min}` : `between ${r.min}`;
    return r.aboveMin
      ? `${label} must be ${from} and at most ${r.max}, got ${value}`
      : `${label} must be ${from} and ${r.max}, got ${value}`;
  }
  return undefined;
}

/**
 * LanguageModel's own options, llama.cpp's freedom where it has one: any finite temperature
 * and penalties (a presence penalty of 1000 bans every recent token), but nothing that breaks
 * the sampler (a repeat penalty of 0 divides by it; top-p and min-p are fractions).
 */
export const MODEL_RANGES = {
  temperature: { min: 0, max: Number.MAX_VALUE },
  topK: GENERATION_RANGES.topK,
  topP: GENERATION_RANGES.topP,
  minP: GENERATION_RANGES.minP,
  repeatPenalty: { min: 0, max: Number.MAX_VALUE, aboveMin: true },
  frequencyPenalty: { min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
  presencePenalty: { min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
  seed: GENERATION_RANGES.seed,
} as const satisfies Record<string, OptionRange>;

/**
 * A model's load options (LanguageModel.load, Decoder.load, createEngine's models, and the CLI
 * flags of the same names): the context in whole 16-token blocks, a window that keeps at least
 * two, fewer sinks than the window.
 */
export const LOAD_RANGES = {
  contextSize: { min: 16, max: 1 << 24, integer: true },
  window: { min: 32, max: 1 << 24, integer: true },
  sinks: { min: 0, max: 1 << 24, integer: true },
  sequences: { min: 1, max: 256, integer: true },
  maxBatch: { min: 1, max: 1 << 16, integer: true },
} as const satisfies Record<string, OptionRange>;

/**
 * What is wrong with a model's load options, named as `name` spells them (the CLI passes its
 * flags' names), or undefined.
 */
export function loadOptionsProblem(
  options: {
    contextSize?: number;
    window?: { window: number; sinks: number };
    sequences?: number;
    maxBatch?: number;
  },
  name: (option: keyof typeof LOAD_RANGES) => string = (option) => option,
): string | undefined {
  const values: [keyof typeof LOAD_RANGES, unknown][] = [
    ['contextSize', options.contextSize],
    ['window', options.window?.window],
    ['sinks', options.window?.sinks],
    ['sequences', options.sequences],
    ['maxBatch', options.maxBatch],
  ];
  for (const [option, value] of values) {
    const problem =
      value === undefined ? undefined : rangeProblem(name(option), value, LOAD_RANGES[option]);
    if (problem) return problem;
  }
  const w = options.window;
  if (w && w.sinks >= w.window) {
    return `${name('sinks')} (${w.sinks}) must be fewer than ${name('window')} (${w.window}) keeps`;
  }
  return undefined;
}
