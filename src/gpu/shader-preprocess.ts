import { ShaderError } from '../errors.js';

/**
 * The one define/include pass that specializes WGSL before compilation. WGSL `override`
 * constants cover numbers (workgroup sizes); this pass covers what overrides cannot: `enable`
 * directives, whole code paths (subgroup vs workgroup reduction) and shared includes.
 *
 *   #include "include/reduce.wgsl"   splice another shader file in (once per file)
 *   #if NAME  /  #if !NAME           keep the lines that follow when the define is truthy / falsy
 *   #else  /  #endif
 *
 * Directives must stand alone on their line. Everything else passes through untouched.
 */
export type ShaderDefines = Readonly<Record<string, boolean | number>>;

export function preprocessWgsl(
  name: string,
  load: (name: string) => string,
  defines: ShaderDefines,
): string {
  const included = new Set<string>();
  const out: string[] = [];

  function expand(file: string, chain: readonly string[]): void {
    if (chain.includes(file)) {
      throw new ShaderError(`shader include cycle: ${[...chain, file].join(' -> ')}`);
    }
    if (included.has(file)) return;
    included.add(file);
    const lines = load(file).split('\n');
    // Each frame: is this branch live, has the #if part been taken, was the parent live.
    const stack: { live: boolean; parentLive: boolean; inElse: boolean }[] = [];
    const live = () => stack.length === 0 || stack[stack.length - 1].live;
    lines.forEach((line, index) => {
      const where = `${file}:${index + 1}`;
      const directive = /^\s*#(\w+)\s*(.*?)\s*$/.exec(line);
      if (!directive) {
        if (live()) out.push(line);
        return;
      }
      const [, word, rest] = directive;
      switch (word) {
        case 'include': {
          const target = /^"([^"]+)"$/.exec(rest)?.[1];
          if (!target) throw new ShaderError(`${where}: #include needs a quoted file name`);
          if (live()) expand(target, [...chain, file]);
          return;
        }
        case 'if': {
          const cond = /^(!?)([A-Za-z_]\w*)$/.exec(rest);
          if (!cond) throw new ShaderError(`${where}: #if takes NAME or !NAME, got "${rest}"`);
          if (!(cond[2] in defines)) {
            throw new ShaderError(`${where}: #if ${cond[2]} is not defined for this variant`);
          }
          const truthy = Boolean(defines[cond[2]]) !== (cond[1] === '!');
          const parentLive = live();
          stack.push({ live: parentLive && truthy, parentLive, inElse: false });
          return;
        }
        case 'else': {
          const top = stack[stack.length - 1];
          if (!top || top.inElse) throw new ShaderError(`${where}: #else without #if`);
          top.inElse = true;
          top.live = top.parentLive && !top.live;
          return;
        }
        case 'endif':
          if (!stack.pop()) throw new ShaderError(`${where}: #endif without #if`);
          return;
        default:
          throw new ShaderError(`${where}: unknown directive #${word}`);
      }
    });
    if (stack.length > 0) throw new ShaderError(`${file}: #if without #endif`);
  }

  expand(name, []);
  return out.join('\n');
}
