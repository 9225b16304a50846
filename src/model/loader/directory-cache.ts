import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ChunkCache } from './chunk-cache.js';

// Node only: model chunks as files in a directory, one file per chunk named by a hash of its key
// (keys hold URLs, which are not file names). A chunk is written to a temp file, flushed, and
// renamed into place, so a reader sees a whole chunk or none; a crash leaves at most a temp
// file, which no key ever names.

/** `$AGENTGPU_CACHE_DIR`, else `agentgpu/models` under `$XDG_CACHE_HOME` or `~/.cache`. */
export function defaultCacheDir(): string {
  const dir = process.env.AGENTGPU_CACHE_DIR;
  if (dir) return dir;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'agentgpu', 'models');
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** A ChunkCache in `dir` (created on the first write). Full disk: the put throws ENOSPC. */
export function directoryChunkCache(dir = defaultCacheDir()): ChunkCache {
  let made: Promise<unknown> | undefined;
  const fileOf = (key: string) =>
    join(dir, `${createHash('sha256').update(key).digest('hex')}.chunk`);
  return {
    async get(key) {
      try {
        return await readFile(fileOf(key));
      } catch (error) {
        if (errorCode(error) === 'ENOENT') return undefined;
        throw error;
      }
    },
    async put(key, bytes) {
      await (made ??= mkdir(dir, { recursive: true }));
      const file = fileOf(key);
      const temp = `${file}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
      try {
        const handle = await open(temp, 'w');
        try {
          await handle.writeFile(bytes);
          // Flushed before the rename, or a power cut could leave the name on empty blocks.
          await handle.datasync();
        } finally {
          await handle.close();
        }
        await rename(temp, file);
      } catch (error) {
        await rm(temp, { force: true }).catch(() => {});
        throw error;
      }
    },
  };
}
