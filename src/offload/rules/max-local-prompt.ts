import { fmt, hardRule } from './rule.js';

/** Prompts longer than this (local tokens) go to the cloud. */
export const maxLocalPromptTokens = hardRule({
  name: 'maxLocalPromptTokens',
  schema: { type: 'integer', minimum: 1 },
  cloudWhen: (max, { promptTokens }) =>
    promptTokens > max
      ? `prompt ${fmt(promptTokens)} tokens > local budget ${fmt(max)}`
      : undefined,
});
