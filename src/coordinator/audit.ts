// The decision audit log: every placement, configuration, scheduling, eviction and restart the
// engine decided, with what it looked at and why, so a person can ask why it did what it did.

export type DecisionKind =
  | 'configure'
  | 'placement'
  | 'schedule'
  | 'eviction'
  | 'restart'
  | 'resume'
  | 'watchdog'
  | 'cancel'
  | 'memory'
  | 'offload';

export interface Decision {
  /** Increasing from 1. */
  seq: number;
  /** Date.now() when it was decided. */
  at: number;
  kind: DecisionKind;
  /** What it was about: a host, model, agent or request. */
  subject: string;
  /** What was decided, in a few words. */
  decision: string;
  /** Why, in a sentence a person can check against the inputs. */
  reason: string;
  /** The facts the decision was made from. */
  inputs: Record<string, unknown>;
}

export interface AuditQuery {
  kind?: DecisionKind | DecisionKind[];
  /** Entries whose subject is or contains this. */
  subject?: string;
  /** Entries after this seq. */
  after?: number;
  limit?: number;
}

export class AuditLog {
  private readonly entries: Decision[] = [];
  private next = 1;
  private readonly listeners = new Set<(d: Decision) => void>();

  /** Keeps at most `capacity` entries, dropping the oldest. */
  constructor(private readonly capacity = 10_000) {}

  record(d: Omit<Decision, 'seq' | 'at'>): Decision {
    const entry = { seq: this.next++, at: Date.now(), ...d };
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.shift();
    for (const listener of this.listeners) listener(entry);
    return entry;
  }

  query(q: AuditQuery = {}): Decision[] {
    const kinds = q.kind === undefined ? undefined : new Set([q.kind].flat());
    const found = this.entries.filter(
      (d) =>
        (!kinds || kinds.has(d.kind)) &&
        (q.subject === undefined || d.subject.includes(q.subject)) &&
        (q.after === undefined || d.seq > q.after),
    );
    return q.limit === undefined ? found : found.slice(-q.limit);
  }

  subscribe(listener: (d: Decision) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
