import { describe, expect, it } from 'vitest';
import { PushQueue } from './push-queue.js';

async function collect<T>(queue: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of queue) out.push(item);
  return out;
}

describe('PushQueue', () => {
  it('yields what was pushed before and after the reader waits, then ends', async () => {
    const queue = new PushQueue<number>();
    queue.push(1);
    const read = collect(queue);
    await new Promise((resolve) => setTimeout(resolve, 5));
    queue.push(2);
    queue.push(3);
    queue.end();
    queue.push(4); // after the end: dropped
    expect(await read).toEqual([1, 2, 3]);
  });

  it('throws the failure after the items queued before it', async () => {
    const queue = new PushQueue<string>();
    const seen: string[] = [];
    queue.push('a');
    queue.fail(new Error('boom'));
    await expect(
      (async () => {
        for await (const item of queue) seen.push(item);
      })(),
    ).rejects.toThrow('boom');
    expect(seen).toEqual(['a']);
  });
});
