import { BF16, F16, F32 } from './float.js';
import type { QuantFormat, QuantName } from './format.js';
import { IQ4_NL } from './iq4_nl.js';
import { IQ4_XS } from './iq4_xs.js';
import { Q2_K } from './q2_k.js';
import { Q3_K } from './q3_k.js';
import { Q4_0 } from './q4_0.js';
import { Q4_1 } from './q4_1.js';
import { Q5_0 } from './q5_0.js';
import { Q5_1 } from './q5_1.js';
import { Q4_K } from './q4_k.js';
import { Q5_K } from './q5_k.js';
import { Q6_K } from './q6_k.js';
import { Q8_0 } from './q8_0.js';

export * from './format.js';
export { dotInput, DOT_INPUT_BLOCK, integerDotFormat, type DotInput } from './dot-input.js';
export {
  BF16,
  F16,
  F32,
  IQ4_NL,
  IQ4_XS,
  Q2_K,
  Q3_K,
  Q4_0,
  Q4_1,
  Q4_K,
  Q5_0,
  Q5_1,
  Q5_K,
  Q6_K,
  Q8_0,
};

/** Every weight format agentgpu runs, by GGML name. */
export const quantFormats: Readonly<Record<QuantName, QuantFormat>> = {
  F32,
  F16,
  BF16,
  Q8_0,
  Q4_0,
  Q5_0,
  IQ4_NL,
  Q4_1,
  Q5_1,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  IQ4_XS,
};
