import { tableShaderSource, type ShaderSource } from './shader-library.js';

// vite inlines every shaders/**/*.wgsl as text at build time, keyed by path under shaders/.
const files = import.meta.glob('../../shaders/**/*.wgsl', {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

const table = Object.fromEntries(
  Object.entries(files).map(([path, text]) => [path.replace(/^.*\/shaders\//, ''), text]),
);

export const bundledShaders: ShaderSource = tableShaderSource(table);
