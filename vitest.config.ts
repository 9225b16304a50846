import { defineConfig } from 'vitest/config';

// Unit tests run in Node; kernel tests get a real WebGPU device from Dawn (SwiftShader here).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    // Dawn is a native addon: one process per test file, not worker threads.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
