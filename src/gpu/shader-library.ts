import { ShaderError } from '../errors.js';

/** Where WGSL sources come from: bundled text in browsers, the package's shaders/ in Node. */
export type ShaderSource = (name: string) => string;

/** A source over a name -> text table, with an error that lists what does exist. */
export function tableShaderSource(table: Readonly<Record<string, string>>): ShaderSource {
  return (name) => {
    const text = table[name];
    if (text === undefined) {
      const known = Object.keys(table).sort().join(', ');
      throw new ShaderError(`no shader named "${name}" (known: ${known})`);
    }
    return text;
  };
}
