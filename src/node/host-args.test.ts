import { describe, expect, it } from 'vitest';
import { hostExecArgv } from './engine.js';

describe('host processes', () => {
  it("start with the parent's loader and memory flags, not its eval, input type or inspector", () => {
    expect(
      hostExecArgv([
        '--input-type=module',
        '-e',
        'import("agentgpu")',
        '--inspect=9229',
        '--import',
        'tsx',
        '--max-old-space-size=8192',
        '--conditions=development',
        '-r',
        './setup.cjs',
        '--print',
        '1',
        '--no-warnings',
      ]),
    ).toEqual([
      '--import',
      'tsx',
      '--max-old-space-size=8192',
      '--conditions=development',
      '--require',
      './setup.cjs',
      '--no-warnings',
    ]);
  });
});
