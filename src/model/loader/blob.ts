import { ModelLoadError } from '../../errors.js';
import { checkRead, type ModelSource } from './source.js';

/**
 * A ModelSource over a File or Blob (a file the user picked, a drag and drop, an OPFS file).
 * Each read slices the Blob, so only the bytes asked for are ever in memory.
 */
export function fileSource(file: Blob): ModelSource {
  const name = file instanceof File ? file.name : `a Blob of ${file.size} bytes`;
  return {
    name,
    size: file.size,
    async read(offset, length) {
      checkRead(name, file.size, offset, length);
      try {
        return new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
      } catch (error) {
        // Browsers throw NotReadableError when the file on disk changed after it was picked.
        throw new ModelLoadError(
          name,
          `could not read bytes ${offset}-${offset + length - 1} of ${name} ` +
            `(${error instanceof Error ? error.message : String(error)}): ` +
            'the file may have been changed or removed since it was chosen; choose it again',
          { cause: error },
        );
      }
    },
    close: async () => {},
  };
}
