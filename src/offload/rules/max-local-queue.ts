import { hardRule } from './rule.js';

/** More local requests waiting than this: go to the cloud. */
export const maxLocalQueue = hardRule({
  name: 'maxLocalQueue',
  schema: { type: 'integer', minimum: 0 },
  cloudWhen: (max, { local }) =>
    local.queue > max ? `${local.queue} local requests waiting > ${max}` : undefined,
});
