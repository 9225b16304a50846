import { RequestError } from '../errors.js';

/**
 * Streams generated text while watching for stop strings: text that might be the start of a
 * stop string is held back until the next piece settles it, so a stop string never reaches the
 * caller, not even in part.
 */
export class StopStringFilter {
  private text = '';
  private emitted = 0;
  /** Where the first stop string begins, once one has appeared. */
  stoppedAt: number | undefined;

  constructor(private readonly stops: readonly string[]) {
    for (const s of stops) {
      if (typeof s !== 'string' || s.length === 0) {
        throw new RequestError('a stop string is empty: every stop must be some text', 'stop');
      }
    }
  }

  /** Adds a piece; returns the text that can go out now. */
  push(piece: string): string {
    if (this.stoppedAt !== undefined) return '';
    const from = Math.max(0, this.text.length - this.longest() + 1);
    this.text += piece;
    let first = -1;
    for (const s of this.stops) {
      const i = this.text.indexOf(s, from);
      if (i >= 0 && (first < 0 || i < first)) first = i;
    }
    if (first >= 0) {
      this.stoppedAt = first;
      return this.take(first);
    }
    return this.take(this.text.length - this.heldBack());
  }

  /** The rest once generation ends without a stop string. */
  flush(): string {
    return this.stoppedAt === undefined ? this.take(this.text.length) : '';
  }

  /** All the text that went out. */
  get output(): string {
    return this.text.slice(0, this.emitted);
  }

  private take(end: number): string {
    const out = this.text.slice(this.emitted, end);
    this.emitted = Math.max(this.emitted, end);
    return out;
  }

  /** Length of the longest tail of the text that begins some stop string. */
  private heldBack(): number {
    let held = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.text.length); n > held; n--) {
        if (this.text.endsWith(s.slice(0, n))) {
          held = n;
          break;
        }
      }
    }
    return held;
  }

  private longest(): number {
    return this.stops.reduce((m, s) => Math.max(m, s.length), 1);
  }
}
