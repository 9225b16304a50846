import type { SearchHit } from './search.js';

// Retrieved memory into a prompt: the best hits that fit a token budget, rendered as one
// system message that says what was added and why, so the prompt a person reads explains itself.

export interface MemoryInclusion {
  kind: SearchHit['kind'];
  id: number;
  score: number;
  tokens: number;
  /** Why it was chosen: matched words, similarity, age. */
  why: string;
}

export interface MemoryPrompt {
  /** The system message's text ('' when nothing was retrieved). */
  text: string;
  included: MemoryInclusion[];
  /** Hits that did not fit the budget. */
  omitted: number;
  tokens: number;
}

function age(ms: number): string {
  const minutes = ms / 60_000;
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${Math.round(minutes)} min ago`;
  const hours = minutes / 60;
  if (hours < 48) return `${Math.round(hours)} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

/** Why a hit was chosen, in words: matched terms, similarity, age. */
function reasonOf(hit: SearchHit, now: number): string {
  return [
    hit.matched.length > 0 ? `matched ${hit.matched.map((w) => `"${w}"`).join(', ')}` : '',
    hit.parts.vector !== undefined ? `similarity ${hit.parts.vector.toFixed(2)}` : '',
    age(now - hit.at),
  ]
    .filter(Boolean)
    .join('; ');
}

/** Each hit's line of the memory message (what memoryPrompt counts against the budget). */
export function memoryLines(hits: readonly SearchHit[], now = Date.now()): string[] {
  return hits.map(
    (hit) =>
      `- [${hit.kind} #${hit.id}, score ${hit.score.toFixed(2)}: ${reasonOf(hit, now)}] ${hit.text}`,
  );
}

/**
 * The hits, best first, while they fit `budget` tokens (counted by `count`, the model's
 * tokenizer), as a system message listing each with its reason.
 */
export function memoryPrompt(
  hits: readonly SearchHit[],
  budget: number,
  count: (text: string) => number,
  now = Date.now(),
): MemoryPrompt {
  const header = (n: number, of: number) => `Relevant memory (${n} of ${of} retrieved):`;
  let tokens = count(header(hits.length, hits.length));
  const lines: string[] = [];
  const included: MemoryInclusion[] = [];
  const all = memoryLines(hits, now);
  for (const [i, hit] of hits.entries()) {
    const why = reasonOf(hit, now);
    const line = all[i];
    const cost = count(line) + 1;
    if (tokens + cost > budget) continue;
    tokens += cost;
    lines.push(line);
    included.push({ kind: hit.kind, id: hit.id, score: hit.score, tokens: cost, why });
  }
  if (included.length === 0) {
    return { text: '', included, omitted: hits.length, tokens: 0 };
  }
  return {
    text: [header(included.length, hits.length), ...lines].join('\n'),
    included,
    omitted: hits.length - included.length,
    tokens,
  };
}
