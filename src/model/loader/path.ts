import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ModelLoadError } from '../../errors.js';
import { checkRead, type ModelSource } from './source.js';

// Node only: a model file on disk, read with positioned reads on one open handle (nothing is
// read ahead or held: the OS page cache already does that). close() releases the handle.

function openError(path: string, error: unknown): ModelLoadError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const full = resolve(path);
  const problem =
    code === 'ENOENT'
      ? `no model file at ${full}: check the path` +
        (full === path ? '' : ` (a relative path starts from ${process.cwd()})`)
      : code === 'EACCES' || code === 'EPERM'
        ? `${full} cannot be read (permission denied): check the file's permissions`
        : `${full} cannot be opened (${error instanceof Error ? error.message : String(error)})`;
  return new ModelLoadError(path, problem, { cause: error });
}

/** Opens a model file on disk. Throws ModelLoadError naming the path when it cannot. */
export async function pathSource(path: string): Promise<ModelSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw openError(path, error);
  }
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    throw new ModelLoadError(
      path,
      `${resolve(path)} is not a file${stats.isDirectory() ? ' but a directory' : ''}: ` +
        'give the path of the .gguf file itself',
    );
  }
  const size = stats.size;
  let closed = false;
  return {
    name: path,
    size,
    async read(offset, length) {
      checkRead(path, size, offset, length);
      if (closed) throw new ModelLoadError(path, `${path} was closed: open it again to read it`);
      const out = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new ModelLoadError(
            path,
            `${path} ended at byte ${offset + done}, short of the ${size} bytes it had when ` +
              'opened: it was changed while being read; open it again',
          );
        }
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
