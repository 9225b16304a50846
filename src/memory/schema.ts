import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';

// The long-term memory database: one IndexedDB database, every record namespaced by agent.
// Versions only go up; each migration takes the database from the version before it.

export interface AgentRecord {
  name: string;
  createdAt: number;
  updatedAt: number;
}

/** One message of a conversation, kept forever (raw messages are never dropped). */
export interface EpisodeRecord {
  id?: number;
  agent: string;
  session: string;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** Date.now() when it was written. */
  at: number;
}

/** A summary of context that left the KV window, linked to the span of the history it covers. */
export interface SummaryRecord {
  id?: number;
  agent: string;
  session: string;
  /** [start, end) in the session's token history (the KV overflow's range). */
  span: [number, number];
  text: string;
  /** The model (or agent) that wrote it. */
  by: string;
  at: number;
}

/** Where a fact came from. */
export interface Provenance {
  kind: 'user' | 'message' | 'summary' | 'tool' | 'import';
  /** The episode, summary or tool result it was taken from. */
  ref?: number;
  note?: string;
}

export interface FactRecord {
  id?: number;
  agent: string;
  text: string;
  provenance: Provenance;
  at: number;
}

export interface ToolResultRecord {
  id?: number;
  agent: string;
  tool: string;
  arguments: unknown;
  result: string;
  at: number;
}

/** What an embedding is of. */
export type MemoryKind = 'episode' | 'summary' | 'fact' | 'tool';

export interface EmbeddingRecord {
  kind: MemoryKind;
  id: number;
  agent: string;
  /** The id of the model that made it: vectors of different models do not compare. */
  model: string;
  vector: Float32Array;
}

export interface MemorySchema extends DBSchema {
  agents: { key: string; value: AgentRecord };
  episodes: {
    key: number;
    value: EpisodeRecord;
    indexes: { agent: string; 'agent-at': [string, number] };
  };
  summaries: {
    key: number;
    value: SummaryRecord;
    indexes: { agent: string; 'agent-at': [string, number] };
  };
  facts: {
    key: number;
    value: FactRecord;
    indexes: { agent: string; 'agent-at': [string, number] };
  };
  toolResults: {
    key: number;
    value: ToolResultRecord;
    indexes: { agent: string; 'agent-at': [string, number] };
  };
  embeddings: {
    key: [MemoryKind, number];
    value: EmbeddingRecord;
    indexes: { agent: string; 'agent-model': [string, string] };
  };
}

export type MemoryStoreName = StoreNames<MemorySchema>;

/** The stores whose records are text an agent remembers, by kind. */
export const textStores = {
  episode: 'episodes',
  summary: 'summaries',
  fact: 'facts',
  tool: 'toolResults',
} as const satisfies Record<MemoryKind, MemoryStoreName>;

type Upgrade = (
  db: IDBPDatabase<MemorySchema>,
  tx: IDBPTransaction<MemorySchema, MemoryStoreName[], 'versionchange'>,
) => void;

/** migrations[v - 1] takes the database from version v - 1 to v. */
export const migrations: Upgrade[] = [
  // 1: every store, with agent and (agent, time) indexes.
  (db) => {
    db.createObjectStore('agents', { keyPath: 'name' });
    for (const name of ['episodes', 'summaries', 'facts', 'toolResults'] as const) {
      const store = db.createObjectStore(name, { keyPath: 'id', autoIncrement: true });
      store.createIndex('agent', 'agent');
      store.createIndex('agent-at', ['agent', 'at']);
    }
    const embeddings = db.createObjectStore('embeddings', { keyPath: ['kind', 'id'] });
    embeddings.createIndex('agent', 'agent');
    embeddings.createIndex('agent-model', ['agent', 'model']);
  },
];

export const SCHEMA_VERSION = migrations.length;
