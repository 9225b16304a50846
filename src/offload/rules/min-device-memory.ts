import { hardRule } from './rule.js';

/** Devices reporting less memory than this (navigator.deviceMemory, GB): go to the cloud. */
export const minDeviceMemoryGB = hardRule({
  name: 'minDeviceMemoryGB',
  schema: { type: 'number', exclusiveMinimum: 0 },
  cloudWhen: (min, { deviceMemoryGB: memory }) =>
    memory !== undefined && memory < min
      ? `the device reports ${memory} GB of memory < ${min} GB`
      : undefined,
});
