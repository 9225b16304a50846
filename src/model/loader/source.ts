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
