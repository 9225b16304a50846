import { describe, expect, it } from 'vitest';
import { ShaderError } from '../errors.js';
import { preprocessWgsl } from './shader-preprocess.js';

const files: Record<string, string> = {
  'main.wgsl': ['#include "inc/a.wgsl"', '#if SG', 'sg', '#else', 'wg', '#endif', 'tail'].join(
    '\n',
  ),
  'inc/a.wgsl': ['a1', '#include "inc/b.wgsl"', '#if !F16', 'f32', '#endif'].join('\n'),
  'inc/b.wgsl': 'b',
  'nested.wgsl': [
    '#if A',
    '#if B',
    'ab',
    '#else',
    'a-not-b',
    '#endif',
    '#else',
    '#if B',
    'b-not-a',
    '#endif',
    'not-a',
    '#endif',
  ].join('\n'),
  'cycle1.wgsl': '#include "cycle2.wgsl"',
  'cycle2.wgsl': '#include "cycle1.wgsl"',
  'twice.wgsl': '#include "inc/b.wgsl"\n#include "inc/b.wgsl"',
};
const load = (name: string) => {
  if (!(name in files)) throw new ShaderError(`no shader ${name}`);
  return files[name];
};
const run = (name: string, defines: Record<string, boolean>) =>
  preprocessWgsl(name, load, defines).split('\n');

describe('preprocessWgsl', () => {
  it('splices includes and keeps the live branch', () => {
    expect(run('main.wgsl', { SG: true, F16: false })).toEqual(['a1', 'b', 'f32', 'sg', 'tail']);
    expect(run('main.wgsl', { SG: false, F16: true })).toEqual(['a1', 'b', 'wg', 'tail']);
  });

  it('nests conditionals', () => {
    expect(run('nested.wgsl', { A: true, B: true })).toEqual(['ab']);
    expect(run('nested.wgsl', { A: true, B: false })).toEqual(['a-not-b']);
    expect(run('nested.wgsl', { A: false, B: true })).toEqual(['b-not-a', 'not-a']);
    expect(run('nested.wgsl', { A: false, B: false })).toEqual(['not-a']);
  });

  it('includes a file once', () => {
    expect(run('twice.wgsl', {})).toEqual(['b']);
  });

  it('rejects cycles, unknown defines and unbalanced blocks with the place', () => {
    expect(() => run('cycle1.wgsl', {})).toThrow(
      /include cycle: cycle1.wgsl -> cycle2.wgsl -> cycle1.wgsl/,
    );
    expect(() => run('main.wgsl', { SG: true })).toThrow(/inc\/a.wgsl:3: #if F16 is not defined/);
    files['open.wgsl'] = '#if SG\nx';
    expect(() => run('open.wgsl', { SG: true })).toThrow(/#if without #endif/);
    files['stray.wgsl'] = '#endif';
    expect(() => run('stray.wgsl', {})).toThrow(/stray.wgsl:1: #endif without #if/);
    files['bad.wgsl'] = '#define X 1';
    expect(() => run('bad.wgsl', {})).toThrow(ShaderError);
  });
});
