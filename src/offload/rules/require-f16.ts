import { hardRule } from './rule.js';

/** The local model needs shader-f16: without it, go to the cloud. */
export const requireF16 = hardRule({
  name: 'requireF16',
  schema: { type: 'boolean' },
  cloudWhen: (required, input) =>
    required && !input.local.f16
      ? 'the local model needs shader-f16 and this device has none'
      : undefined,
});
