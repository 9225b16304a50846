// A contextual bandit (LinUCB, Li et al. 2010) choosing local or cloud for `auto` requests that
// every hard rule leaves open. Each arm keeps A = I + Σ x xᵀ and b = Σ r x over its outcomes;
// its score for a context x is θᵀx + α √(xᵀ A⁻¹ x) with θ = A⁻¹ b. Rewards come from outcomes:
// faster, cheaper, error-free and better-rated is higher. State and the day's cloud spending
// persist (IndexedDB in a page) so learning survives reloads.
import { openDB } from 'idb';
import type { Chooser, Target } from './placement.js';

export interface ArmState {
  A: number[];
  b: number[];
  n: number;
}

export interface OffloadState {
  dimensions: number;
  arms: Record<Target, ArmState>;
  /** Cloud use of the current UTC day. */
  spent: { day: string; tokens: number; usd: number };
}

/** Where the state lives between sessions. */
export interface OffloadStateStore {
  load(): Promise<OffloadState | undefined>;
  save(state: OffloadState): Promise<void>;
}

export interface Outcome {
  latencyMs: number;
  error: boolean;
  usd: number;
  /** 0..1 when the app rates the reply (thumbs up = 1). */
  quality?: number;
}

const today = (now = Date.now()) => new Date(now).toISOString().slice(0, 10);

/** Reward of an outcome: latency against the budget, money, errors and quality. */
export function reward(o: Outcome, latencyBudgetMs: number): number {
  return (
    -Math.min(o.latencyMs / latencyBudgetMs, 4) -
    o.usd * 100 -
    (o.error ? 2 : 0) +
    (o.quality ?? 0.5)
  );
}

function identity(d: number): number[] {
  return Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 1 : 0));
}

/** Solves A x = v (A symmetric positive definite, d small) by Gauss-Jordan. */
function solve(A: readonly number[], v: readonly number[]): number[] {
  const d = v.length;
  const m = Array.from({ length: d }, (_, r) => [...A.slice(r * d, r * d + d), v[r]]);
  for (let c = 0; c < d; c++) {
    let pivot = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r][c]) > Math.abs(m[pivot][c])) pivot = r;
    [m[c], m[pivot]] = [m[pivot], m[c]];
    const p = m[c][c];
    for (let k = c; k <= d; k++) m[c][k] /= p;
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = m[r][c];
      for (let k = c; k <= d; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row) => row[d]);
}

export function freshState(dimensions: number): OffloadState {
  const arm = (): ArmState => ({ A: identity(dimensions), b: new Array(dimensions).fill(0), n: 0 });
  return {
    dimensions,
    arms: { local: arm(), cloud: arm() },
    spent: { day: today(), tokens: 0, usd: 0 },
  };
}

export class LinUcbBandit implements Chooser {
  constructor(
    readonly state: OffloadState,
    private readonly alpha = 0.5,
  ) {}

  score(arm: Target, x: readonly number[]): number {
    const { A, b } = this.state.arms[arm];
    const theta = solve(A, b);
    const Ainvx = solve(A, x);
    const mean = theta.reduce((s, t, i) => s + t * x[i], 0);
    const spread = Math.sqrt(
      Math.max(
        0,
        x.reduce((s, xi, i) => s + xi * Ainvx[i], 0),
      ),
    );
    return mean + this.alpha * spread;
  }

  choose(context: number[]): { arm: Target; scores: Record<Target, number> } {
    const scores = { local: this.score('local', context), cloud: this.score('cloud', context) };
    // Ties go local: nothing leaves the device without a reason.
    return { arm: scores.cloud > scores.local ? 'cloud' : 'local', scores };
  }

  update(arm: Target, x: readonly number[], r: number): void {
    const s = this.state.arms[arm];
    const d = x.length;
    for (let i = 0; i < d; i++) {
      s.b[i] += r * x[i];
      for (let j = 0; j < d; j++) s.A[i * d + j] += x[i] * x[j];
    }
    s.n++;
  }

  /** Adds cloud use to today's totals (a new day starts from zero). */
  spend(tokens: number, usd: number, now = Date.now()): void {
    const day = today(now);
    if (this.state.spent.day !== day) this.state.spent = { day, tokens: 0, usd: 0 };
    this.state.spent.tokens += tokens;
    this.state.spent.usd += usd;
  }

  spent(now = Date.now()): { tokens: number; usd: number } {
    const { day, tokens, usd } = this.state.spent;
    return day === today(now) ? { tokens, usd } : { tokens: 0, usd: 0 };
  }
}

/** Keeps the state in memory only (Node, tests). */
export function memoryStateStore(): OffloadStateStore {
  let saved: OffloadState | undefined;
  return {
    load: async () => (saved ? (structuredClone(saved) as OffloadState) : undefined),
    save: async (s) => {
      saved = structuredClone(s);
    },
  };
}

/** Keeps the state in IndexedDB (a page or worker), database `name`. */
export async function indexedDbStateStore(name = 'agentgpu-offload'): Promise<OffloadStateStore> {
  const db = await openDB(name, 1, {
    upgrade(d) {
      d.createObjectStore('state');
    },
  });
  return {
    load: async () => (await db.get('state', 'bandit')) as OffloadState | undefined,
    save: async (s) => {
      const tx = db.transaction('state', 'readwrite');
      await Promise.all([tx.store.put(s, 'bandit'), tx.done]);
    },
  };
}
