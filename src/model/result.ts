import type { GenerationResult } from './language-model.js';

/**
 * A result no step of this model made: maxTokens 0 (nothing generated), or a reply that came
 * from elsewhere (the cloud), with zero timings.
 */
export function resultWithoutSteps(
  prompt: number[],
  text: string,
  finishReason: GenerationResult['finishReason'],
): GenerationResult {
  return {
    promptTokens: prompt,
    tokens: [],
    text,
    finishReason,
    timings: {
      promptTokens: prompt.length,
      reusedPromptTokens: 0,
      prefillMs: 0,
      prefillTokensPerSecond: 0,
      decodeTokens: 0,
      decodeMs: 0,
      decodeTokensPerSecond: 0,
      timeToFirstTokenMs: 0,
    },
  };
}
