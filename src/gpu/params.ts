/** One field of a WGSL params struct: a u32 or an f32, in declaration order. */
export type ParamField = { u32: number } | { f32: number };

/**
 * Packs a params struct of 4-byte fields, field for field with its WGSL declaration, padded to
 * a multiple of 16 bytes (uniform buffers bind in 16-byte units).
 */
export function packParams(fields: readonly ParamField[]): Uint8Array {
  const bytes = new ArrayBuffer(Math.ceil(Math.max(fields.length, 1) / 4) * 16);
  const view = new DataView(bytes);
  fields.forEach((field, i) => {
    if ('u32' in field) view.setUint32(i * 4, field.u32, true);
    else view.setFloat32(i * 4, field.f32, true);
  });
  return new Uint8Array(bytes);
}
