import { hardRule } from './rule.js';

/** On battery below this level (0..1) and not charging: go to the cloud. */
export const minBatteryLevel = hardRule({
  name: 'minBatteryLevel',
  schema: { type: 'number', minimum: 0, maximum: 1 },
  cloudWhen: (min, { battery: b }) =>
    b && !b.charging && b.level < min
      ? `on battery at ${Math.round(b.level * 100)}% < ${Math.round(min * 100)}%`
      : undefined,
});
