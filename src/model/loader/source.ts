import type { ByteSource } from '../gguf/reader.js';

// What every loader returns: a ByteSource (what readGgufHeader and WeightStore read from) that
// also says where its bytes come from and can let go of what it holds.

export type { ByteSource };

/** A ByteSource for a model file: a URL, a path, a File/Blob or bytes in memory. */
export interface ModelSource extends ByteSource {
  /** The URL, path or file name, for messages. */
  readonly name: string;
  /** Releases what the source holds (an open file, chunks in memory). Reads after it fail. */
  close(): Promise<void>;
}

/** How far a load has come: bytes delivered (from the network or a cache) of the file's total. */
export interface LoadProgress {
  loaded: number;
  total: number;
  /** Where the bytes of this report came from. */
  from: 'network' | 'cache';
}

/**
 * How far a model's load has come, phase by phase, as an app's progress bar shows it:
 * 'download' and 'cache' count the file's bytes (from the network, or from the cache of an
 * earlier load), 'upload' the weight bytes written to GPU buffers, 'compile' the kernels built.
 * A URL's bytes are read as the weights go up, so on a file larger than one 16 MiB chunk
 * 'download' and 'upload' reports alternate; each phase's `loaded` only grows, and 'compile'
 * comes last, ending at `loaded === total`.
 */
export interface ModelLoadProgress {
  /** The model's id (the engine's ModelSpec id). */
  model: string;
  phase: 'download' | 'cache' | 'upload' | 'compile';
  loaded: number;
  total: number;
  /** One line for a status bar: "small: downloading 12.0 of 40.0 MiB". */
  text: string;
}

/**
 * Reads outside the file are a caller's bug (the GGUF reader checks every tensor against the
 * size), so they throw rather than return fewer bytes than asked.
 */
export function checkRead(name: string, size: number, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new RangeError(`read of ${length} bytes at ${offset} is outside ${name} (${size} bytes)`);
  }
}

/** A ModelSource over bytes already in memory (a model the app generated or fetched itself). */
export function memorySource(bytes: Uint8Array, name = 'bytes in memory'): ModelSource {
  return {
    name,
    size: bytes.length,
    read: async (offset, length) => {
      checkRead(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    close: async () => {},
  };
}
