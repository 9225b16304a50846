/**
 * Items pushed by a producer, read by one consumer with `for await`: the iterator yields what
 * is queued, waits for more, and ends when the producer ends the queue (or throws what it
 * failed with, after the items pushed before). A push after the end is dropped.
 */
export class PushQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wake?.();
  }

  /** No more items: the iterator ends once it has yielded those queued. */
  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /** No more items: the iterator throws `error` once it has yielded those queued. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    this.end();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      while (this.items.length > 0) yield this.items.shift()!;
      if (this.ended) {
        if (this.failure) throw this.failure.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
