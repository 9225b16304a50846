import { describe, expect, it } from 'vitest';
import { StopStringFilter } from './stop-strings.js';

function run(stops: string[], pieces: string[]) {
  const f = new StopStringFilter(stops);
  const out = pieces.map((p) => f.push(p));
  out.push(f.flush());
  return { out, output: f.output, stoppedAt: f.stoppedAt };
}

describe('StopStringFilter', () => {
  it('passes text through when there are no stops', () => {
    expect(run([], ['ab', 'c']).out).toEqual(['ab', 'c', '']);
  });

  it('holds back a possible stop prefix until the next piece settles it', () => {
    const r = run(['END'], ['hello E', 'N', 'x']);
    expect(r.out).toEqual(['hello ', '', 'ENx', '']);
    expect(r.output).toBe('hello ENx');
    expect(r.stoppedAt).toBeUndefined();
  });

  it('stops at a stop string split across pieces, and never emits any of it', () => {
    const r = run(['END'], ['one E', 'N', 'D two']);
    expect(r.out).toEqual(['one ', '', '', '']);
    expect(r.output).toBe('one ');
    expect(r.stoppedAt).toBe(4);
  });

  it('takes the earliest of several stops, and releases held text at the end', () => {
    expect(run(['\n\n', 'User:'], ['a User: b\n\n']).output).toBe('a ');
    expect(run(['User:'], ['a Us']).out).toEqual(['a ', 'Us']);
  });

  it('rejects an empty stop string', () => {
    expect(() => new StopStringFilter([''])).toThrow(/empty/);
  });
});
