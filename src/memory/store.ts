import { wrap, type IDBPDatabase, type IDBPTransaction, type OpenDBCallbacks } from 'idb';
import { AgentGpuError, MemoryQuotaError } from '../errors.js';
import {
  migrations,
  SCHEMA_VERSION,
  textStores,
  type AgentRecord,
  type EmbeddingRecord,
  type EpisodeRecord,
  type FactRecord,
  type MemoryKind,
  type MemorySchema,
  type MemoryStoreName,
  type Provenance,
  type SummaryRecord,
  type ToolResultRecord,
} from './schema.js';
import { MemoryIndex, type SearchHit, type SearchOptions } from './search.js';

// Long-term agent memory in IndexedDB (through idb). Every write is one transaction that is
// awaited to its end (tx.done), with nothing else awaited inside it, so a write lands whole or
// not at all. A full disk becomes MemoryQuotaError and the store goes read-only until
// retryWrites(); another tab's writes reach this one's search index over a BroadcastChannel.

export interface MemoryStoreOptions {
  /** The IndexedDB database (default 'agentgpu-memory'). */
  name?: string;
  /**
   * Bytes this memory may take: the database then lives in a storage bucket of that quota
   * (the Storage Buckets API, Chromium 122+), and writes past it fail with MemoryQuotaError.
   * Absent: the origin's quota.
   */
  quota?: number;
}

/** idb's openDB on a given IDBFactory (a storage bucket's, or the global one). */
function openDatabase<T>(
  factory: IDBFactory,
  name: string,
  version: number,
  { upgrade, blocking, terminated }: OpenDBCallbacks<T>,
): Promise<IDBPDatabase<T>> {
  const request = factory.open(name, version);
  const opened = wrap(request) as Promise<IDBPDatabase<T>>;
  request.addEventListener('upgradeneeded', (event) =>
    upgrade?.(
      wrap(request.result) as IDBPDatabase<T>,
      event.oldVersion,
      event.newVersion,
      wrap(request.transaction!) as never,
      event,
    ),
  );
  opened
    .then((db) => {
      db.addEventListener('close', () => terminated?.());
      db.addEventListener('versionchange', (event) =>
        blocking?.(event.oldVersion, event.newVersion, event),
      );
    })
    .catch(() => {});
  return opened;
}

/** The storage-bucket part of the Storage Buckets API this module uses. */
interface StorageBuckets {
  open(
    name: string,
    options?: { quota?: number; persisted?: boolean },
  ): Promise<{ indexedDB: IDBFactory }>;
}

/** An agent's memory as a JSON file: export() writes it, import() reads it. */
export interface MemoryExport {
  format: 'agentgpu-memory';
  version: 1;
  agent: string;
  exportedAt: number;
  episodes: EpisodeRecord[];
  summaries: SummaryRecord[];
  facts: FactRecord[];
  toolResults: ToolResultRecord[];
  embeddings: (Omit<EmbeddingRecord, 'vector'> & { vector: number[] })[];
}

/** What forget() removes: an agent's whole memory, some items, or a time range. */
export type ForgetWhat =
  | { agent: string }
  | { agent: string; items: { kind: MemoryKind; id: number }[] }
  | { agent: string; from?: number; to?: number };

type Change = { agent: string };

const CHANNEL = 'agentgpu-memory';

export class MemoryStore {
  private readonly indexes = new Map<string, Promise<MemoryIndex>>();
  private readonly channel: BroadcastChannel | undefined;
  private readOnlyReason: string | undefined;
  private db: Promise<IDBPDatabase<MemorySchema>> | undefined;
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly factory: IDBFactory,
  ) {
    this.channel =
      typeof BroadcastChannel === 'undefined'
        ? undefined
        : new BroadcastChannel(`${CHANNEL}:${name}`);
    // Another tab wrote: this tab's index of that agent is stale.
    this.channel?.addEventListener('message', (event: MessageEvent<Change>) =>
      this.indexes.delete(event.data.agent),
    );
  }

  /** Opens (creating or migrating) the memory database. */
  static async open(options: MemoryStoreOptions = {}): Promise<MemoryStore> {
    if (typeof indexedDB === 'undefined') {
      throw new AgentGpuError(
        'long-term memory needs IndexedDB, which this environment lacks (Node): run it in a ' +
          'browser or worker',
      );
    }
    const name = options.name ?? 'agentgpu-memory';
    let factory = indexedDB;
    if (options.quota !== undefined) {
      const buckets = (navigator as Navigator & { storageBuckets?: StorageBuckets }).storageBuckets;
      if (!buckets) {
        throw new AgentGpuError(
          'a memory quota needs the Storage Buckets API (Chromium 122+), which this browser ' +
            "lacks: leave `quota` out to use the origin's quota",
        );
      }
      // Bucket names: lowercase letters, digits, '-' and '_'.
      const bucket = `agentgpu-${name.toLowerCase().replace(/[^a-z0-9_-]/g, '-')}`.slice(0, 64);
      factory = (await buckets.open(bucket, { quota: options.quota })).indexedDB;
    }
    const store = new MemoryStore(name, factory);
    await store.connection();
    return store;
  }

  /** Asks the browser to keep this origin's storage under pressure; true when granted. */
  static async persist(): Promise<boolean> {
    return (await navigator.storage?.persist?.()) ?? false;
  }

  /** Whether writes are refused (after a quota error), and why. */
  get readOnly(): string | undefined {
    return this.readOnlyReason;
  }

  /** Lets writes try again (after space was freed, e.g. by forget()). */
  retryWrites(): void {
    this.readOnlyReason = undefined;
  }

  close(): void {
    this.closed = true;
    this.channel?.close();
    void this.db?.then((db) => db.close());
    this.db = undefined;
  }

  /** The open connection; reopened after another tab's upgrade closed it. */
  private connection(): Promise<IDBPDatabase<MemorySchema>> {
    if (this.closed) throw new AgentGpuError('this memory store is closed');
    this.db ??= openDatabase<MemorySchema>(this.factory, this.name, SCHEMA_VERSION, {
      upgrade(db, oldVersion, newVersion, tx) {
        for (let v = oldVersion + 1; v <= (newVersion ?? SCHEMA_VERSION); v++) {
          migrations[v - 1](db, tx);
        }
      },
      blocking: () => {
        // A newer version wants in (another tab upgraded): let it, reopen on next use.
        void this.db?.then((db) => db.close());
        this.db = undefined;
        this.indexes.clear();
      },
      terminated: () => {
        this.db = undefined;
      },
    });
    return this.db;
  }

  /**
   * One read-write transaction over `stores`: `body` issues its requests without awaiting
   * anything else, then the transaction is awaited to its end. A quota failure rejects with
   * MemoryQuotaError, nothing of the transaction written, and the store goes read-only.
   */
  private async write<T>(
    agent: string,
    stores: MemoryStoreName[],
    body: (tx: IDBPTransaction<MemorySchema, MemoryStoreName[], 'readwrite'>) => Promise<T>[],
    touch = true,
  ): Promise<T[]> {
    if (this.readOnlyReason) {
      throw new MemoryQuotaError(
        `memory is read-only after a storage error (${this.readOnlyReason}): free space ` +
          '(forget old items), then call retryWrites()',
      );
    }
    const db = await this.connection();
    const tx = db.transaction(['agents', ...stores], 'readwrite');
    const now = Date.now();
    try {
      const requests = body(tx);
      const agents = tx.objectStore('agents');
      const touched = touch
        ? agents.get(agent).then((a) =>
            agents.put({
              name: agent,
              createdAt: a?.createdAt ?? now,
              updatedAt: now,
            } as AgentRecord),
          )
        : undefined;
      const [results] = await Promise.all([Promise.all(requests), touched, tx.done]);
      this.channel?.postMessage({ agent } satisfies Change);
      return results;
    } catch (error) {
      // The transaction failed as a whole: make sure it is over before saying so.
      try {
        tx.abort();
      } catch {
        // already finished
      }
      await tx.done.catch(() => {});
      this.indexes.delete(agent);
      throw this.storageError(error, tx.error);
    }
  }

  /** A quota failure (Chrome's QuotaExceededError, or AbortError near quota) as MemoryQuotaError. */
  private storageError(error: unknown, txError: DOMException | null): unknown {
    const names = [error, txError].map((e) => (e as DOMException | null)?.name);
    const messages = [error, txError].map((e) => String((e as Error | null)?.message ?? ''));
    const quota =
      names.includes('QuotaExceededError') ||
      messages.some((m) => /quota|disk full|storage full/i.test(m)) ||
      names.includes('ReadOnlyError');
    if (!quota) return error;
    this.readOnlyReason = `${names.find(Boolean) ?? 'error'}: ${messages.find(Boolean) ?? ''}`;
    return new MemoryQuotaError(
      'the browser refused to store more memory (storage quota reached): nothing of this ' +
        'write was kept, and memory is read-only until space is freed (forget old items, then ' +
        'retryWrites()); reading still works',
      { cause: error },
    );
  }

  /** Appends messages to an agent's episode store, all or none. Returns their ids. */
  async addMessages(
    agent: string,
    session: string,
    messages: readonly Pick<EpisodeRecord, 'role' | 'content'>[],
  ): Promise<number[]> {
    const at = Date.now();
    const records = messages.map((m) => ({ agent, session, role: m.role, content: m.content, at }));
    const ids = await this.write(agent, ['episodes'], (tx) =>
      records.map((r) => tx.objectStore('episodes').add(r)),
    );
    await this.indexed(
      agent,
      records.map((r, i) => ({ kind: 'episode', id: ids[i], text: r.content, at })),
    );
    return ids;
  }

  /** Stores the summary of a span of a session's history that left the KV window. */
  async addSummary(s: Omit<SummaryRecord, 'id' | 'at'>): Promise<number> {
    const at = Date.now();
    const [id] = await this.write(s.agent, ['summaries'], (tx) => [
      tx.objectStore('summaries').add({ ...s, at }),
    ]);
    await this.indexed(s.agent, [{ kind: 'summary', id, text: s.text, at }]);
    return id;
  }

  async addFact(agent: string, text: string, provenance: Provenance): Promise<number> {
    const at = Date.now();
    const [id] = await this.write(agent, ['facts'], (tx) => [
      tx.objectStore('facts').add({ agent, text, provenance, at }),
    ]);
    await this.indexed(agent, [{ kind: 'fact', id, text, at }]);
    return id;
  }

  async addToolResult(r: Omit<ToolResultRecord, 'id' | 'at'>): Promise<number> {
    const at = Date.now();
    const [id] = await this.write(r.agent, ['toolResults'], (tx) => [
      tx.objectStore('toolResults').add({ ...r, at }),
    ]);
    await this.indexed(r.agent, [{ kind: 'tool', id, text: `${r.tool}: ${r.result}`, at }]);
    return id;
  }

  /** Stores an item's embedding (by the model that made it). */
  async addEmbedding(e: EmbeddingRecord): Promise<void> {
    await this.write(e.agent, ['embeddings'], (tx) => [tx.objectStore('embeddings').put(e)]);
    const index = await this.indexes.get(e.agent);
    index?.setVector(e.kind, e.id, e.vector, e.model);
  }

  /** An agent's messages in order (all, or of one session). */
  async episodes(agent: string, session?: string): Promise<EpisodeRecord[]> {
    const db = await this.connection();
    const all = await db.getAllFromIndex('episodes', 'agent', agent);
    return session === undefined ? all : all.filter((e) => e.session === session);
  }

  async summaries(agent: string): Promise<SummaryRecord[]> {
    return (await this.connection()).getAllFromIndex('summaries', 'agent', agent);
  }

  async facts(agent: string): Promise<FactRecord[]> {
    return (await this.connection()).getAllFromIndex('facts', 'agent', agent);
  }

  async agents(): Promise<AgentRecord[]> {
    return (await this.connection()).getAll('agents');
  }

  /** Hybrid search over an agent's memory (see search.ts). */
  async search(agent: string, query: string, options: SearchOptions = {}): Promise<SearchHit[]> {
    return (await this.index(agent)).search(query, options);
  }

  /** The agent's index: built from the database on first use, then kept in step. */
  private index(agent: string): Promise<MemoryIndex> {
    let index = this.indexes.get(agent);
    if (!index) {
      index = this.build(agent);
      this.indexes.set(agent, index);
      index.catch(() => this.indexes.delete(agent));
    }
    return index;
  }

  /** Every record of an agent, read in one transaction. */
  private async readAll(agent: string) {
    const db = await this.connection();
    const tx = db.transaction(['episodes', 'summaries', 'facts', 'toolResults', 'embeddings']);
    const [episodes, summaries, facts, toolResults, embeddings] = await Promise.all([
      tx.objectStore('episodes').index('agent').getAll(agent),
      tx.objectStore('summaries').index('agent').getAll(agent),
      tx.objectStore('facts').index('agent').getAll(agent),
      tx.objectStore('toolResults').index('agent').getAll(agent),
      tx.objectStore('embeddings').index('agent').getAll(agent),
      tx.done,
    ]);
    return { episodes, summaries, facts, toolResults, embeddings };
  }

  private async build(agent: string): Promise<MemoryIndex> {
    const {
      episodes,
      summaries,
      facts,
      toolResults: tools,
      embeddings,
    } = await this.readAll(agent);
    const index = new MemoryIndex();
    for (const e of episodes) index.add({ kind: 'episode', id: e.id!, text: e.content, at: e.at });
    for (const s of summaries) index.add({ kind: 'summary', id: s.id!, text: s.text, at: s.at });
    for (const f of facts) index.add({ kind: 'fact', id: f.id!, text: f.text, at: f.at });
    for (const t of tools) {
      index.add({ kind: 'tool', id: t.id!, text: `${t.tool}: ${t.result}`, at: t.at });
    }
    for (const e of embeddings) index.setVector(e.kind, e.id, e.vector, e.model);
    return index;
  }

  /** New items into a built index (an unbuilt one reads them from the database later). */
  private async indexed(
    agent: string,
    items: { kind: MemoryKind; id: number; text: string; at: number }[],
  ): Promise<void> {
    const index = await this.indexes.get(agent)?.catch(() => undefined);
    for (const item of items) index?.add(item);
  }

  /** An agent's whole memory as JSON (vectors as number arrays). */
  async export(agent: string): Promise<MemoryExport> {
    const { episodes, summaries, facts, toolResults, embeddings } = await this.readAll(agent);
    return {
      format: 'agentgpu-memory',
      version: 1,
      agent,
      exportedAt: Date.now(),
      episodes,
      summaries,
      facts,
      toolResults,
      embeddings: embeddings.map((e) => ({ ...e, vector: Array.from(e.vector) })),
    };
  }

  /**
   * Adds an exported memory (to `as`, default its own agent), all in one transaction. Items get
   * new ids; facts' provenance and embeddings follow them.
   */
  async import(data: MemoryExport, as = data.agent): Promise<void> {
    if (data?.format !== 'agentgpu-memory' || data.version !== 1) {
      throw new AgentGpuError(
        'not an agentgpu memory export (format "agentgpu-memory", version 1): nothing imported',
      );
    }
    for (const key of ['episodes', 'summaries', 'facts', 'toolResults', 'embeddings'] as const) {
      if (!Array.isArray(data[key])) {
        throw new AgentGpuError(`memory export: "${key}" must be an array: nothing imported`);
      }
    }
    const strip = <T extends { id?: number }>(r: T) => {
      const { id, ...rest } = r;
      void id;
      return { ...rest, agent: as };
    };
    await this.write<unknown>(
      as,
      ['episodes', 'summaries', 'facts', 'toolResults', 'embeddings'],
      (tx) => {
        // Ids are known only as each add() resolves: chain the requests inside the transaction
        // on the requests' own promises (nothing else is awaited).
        const ids: Record<MemoryKind, Map<number, number>> = {
          episode: new Map(),
          summary: new Map(),
          fact: new Map(),
          tool: new Map(),
        };
        const put = <K extends MemoryKind>(kind: K, records: { id?: number }[]) =>
          records.map((r) =>
            tx
              .objectStore(textStores[kind])
              .add(strip(r) as never)
              .then((id) => ids[kind].set(r.id!, id as number)),
          );
        const adds = [
          ...put('episode', data.episodes),
          ...put('summary', data.summaries),
          ...put('fact', data.facts),
          ...put('tool', data.toolResults),
        ];
        const vectors = Promise.all(adds).then(() =>
          Promise.all(
            data.embeddings.map((e) => {
              const id = ids[e.kind]?.get(e.id);
              if (id === undefined) return undefined;
              return tx
                .objectStore('embeddings')
                .put({ ...e, id, agent: as, vector: Float32Array.from(e.vector) });
            }),
          ),
        );
        return [...adds, vectors];
      },
    );
    this.indexes.delete(as);
  }

  /** Removes an agent's memory: all of it, some items, or what was written in [from, to). */
  async forget(what: ForgetWhat): Promise<number> {
    const { agent } = what;
    const stores = ['episodes', 'summaries', 'facts', 'toolResults', 'embeddings'] as const;
    const db = await this.connection();
    // Which items: read first (a read transaction), then delete in one write transaction.
    let items: { kind: MemoryKind; id: number }[];
    if ('items' in what) items = what.items;
    else {
      const from = 'from' in what ? (what.from ?? -Infinity) : -Infinity;
      const to = 'to' in what ? (what.to ?? Infinity) : Infinity;
      items = [];
      for (const [kind, store] of Object.entries(textStores) as [MemoryKind, MemoryStoreName][]) {
        const records = (await db.getAllFromIndex(store as 'facts', 'agent', agent)) as {
          id?: number;
          at: number;
        }[];
        for (const r of records) if (r.at >= from && r.at < to) items.push({ kind, id: r.id! });
      }
    }
    const whole = !('items' in what) && !('from' in what) && !('to' in what);
    await this.write(
      agent,
      [...stores],
      (tx) => [
        ...items.flatMap(({ kind, id }) => [
          tx.objectStore(textStores[kind]).delete(id),
          tx.objectStore('embeddings').delete([kind, id]),
        ]),
        ...(whole ? [tx.objectStore('agents').delete(agent)] : []),
      ],
      !whole,
    );
    this.indexes.delete(agent);
    return items.length;
  }
}
