import type { ChatMessage } from '../model/chat/index.js';
import type { GenerationResult } from '../model/language-model.js';
import type { Embedder } from '../memory/onnx-embedder.js';
import { memoryLines, memoryPrompt, type MemoryPrompt } from '../memory/prompt.js';
import type { MemoryKind } from '../memory/schema.js';
import type { MemoryStore } from '../memory/store.js';
import { memorySettings, type AgentDefinition } from './agent.js';
import type { AuditLog } from './audit.js';
import type { WindowEviction } from './host-pool.js';

// Agents' long-term memory: what a request recalls into its prompt, the exchanges kept as
// episodes, embeddings beside them, and summaries of the spans that leave an agent's KV
// window. Every decision goes to the audit log; a failing embedder or store costs the
// vectors or the item, never the request.

/** The long-term memory the engine uses (a MemoryStore, in a page). */
export type EngineMemory = Pick<
  MemoryStore,
  'search' | 'addMessages' | 'addSummary' | 'addEmbedding'
>;

/** Evicted text one summary takes at most (more waits for the next summary). */
const SUMMARY_CHARS = 1200;

export interface AgentMemoryOptions {
  store: EngineMemory;
  /** The engine's sentence embedder; without one, agents' own models embed (modelEmbedder). */
  embedder?: Embedder;
  /** Mean-pooled hidden states of `model`, as an embedder. */
  modelEmbedder: (model: string) => Embedder;
  /** Token counts of `texts` by `model`'s tokenizer. */
  countTokens: (model: string, texts: string[]) => Promise<number[]>;
  /** The reply of agent `summarizer` to `prompt`, in at most `maxTokens` (a background request). */
  complete: (summarizer: string, prompt: string, maxTokens: number) => Promise<string>;
  agent: (name: string) => Readonly<AgentDefinition> | undefined;
  audit: AuditLog;
}

export class AgentMemory {
  /** Memory writes in flight, for settled(). */
  private readonly writes = new Set<Promise<void>>();
  /** Spans that left agents' windows and await their summary, by agent, in order. */
  private readonly pendingSpans = new Map<string, WindowEviction[]>();
  /** Agents whose summarizer is at work. */
  private readonly summarizing = new Set<string>();

  constructor(private readonly options: AgentMemoryOptions) {}

  /**
   * The agent's memory most relevant to the last user message, fitted to its token budget and
   * merged into the system prompt; the audit log says what went in and why.
   */
  async recall(
    agent: Readonly<AgentDefinition>,
    model: string,
    id: string,
    messages: ChatMessage[],
  ): Promise<[ChatMessage[], MemoryPrompt]> {
    const settings = memorySettings(agent);
    const query = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const embedder = this.embedderFor(agent);
    const vector = embedder && (await this.embedQuietly(agent, embedder, [query]))?.[0];
    const hits = await this.options.store.search(agent.name, query, {
      k: settings.k ?? 8,
      embedding: vector && { model: embedder.id, vector },
    });
    const lines = memoryLines(hits);
    const counts = await this.options.countTokens(model, lines);
    const sizes = new Map(lines.map((line, i) => [line, counts[i]]));
    const recalled = memoryPrompt(
      hits,
      settings.budgetTokens ?? 256,
      (t) => sizes.get(t) ?? Math.ceil(t.length / 3),
    );
    this.options.audit.record({
      kind: 'memory',
      subject: `request:${id}`,
      decision: `add ${recalled.included.length} memory item(s), ${recalled.tokens} tokens, to the prompt`,
      reason:
        recalled.included.length > 0
          ? recalled.included.map((m) => `${m.kind} #${m.id}: ${m.why}`).join('; ')
          : hits.length > 0
            ? 'nothing retrieved fit the token budget'
            : 'nothing in memory matched the message',
      inputs: {
        agent: agent.name,
        query,
        retrieved: hits.length,
        omitted: recalled.omitted,
        embedding: vector ? embedder.id : 'none (text only)',
        budgetTokens: settings.budgetTokens ?? 256,
      },
    });
    if (!recalled.text) return [messages, recalled];
    if (agent.keepsConversation) {
      // The conversation's system prompt stays as it began; memory joins the new turn.
      const at = messages.findIndex((m) => m.role === 'user');
      const i = at < 0 ? messages.length : at;
      return [
        [...messages.slice(0, i), { role: 'system', content: recalled.text }, ...messages.slice(i)],
        recalled,
      ];
    }
    const [first, ...rest] = messages;
    const merged: ChatMessage[] =
      first?.role === 'system'
        ? [{ ...first, content: `${first.content}\n\n${recalled.text}` }, ...rest]
        : [{ role: 'system', content: recalled.text }, ...messages];
    return [merged, recalled];
  }

  /** The exchange into the agent's episodes (the new user message and the reply). */
  remember(
    agent: Readonly<AgentDefinition>,
    session: string,
    messages: ChatMessage[],
    result: GenerationResult,
  ): void {
    const user = [...messages].reverse().find((m) => m.role === 'user');
    const reply = result.text;
    const exchange = [
      ...(user ? [{ role: 'user' as const, content: user.content }] : []),
      { role: 'assistant' as const, content: reply },
    ];
    this.track(
      this.options.store.addMessages(agent.name, session, exchange).then(
        (ids) =>
          this.addVectors(
            agent,
            'episode',
            ids,
            exchange.map((m) => m.content),
          ),
        (error: Error) => {
          this.options.audit.record({
            kind: 'memory',
            subject: `agent:${agent.name}`,
            decision: 'the exchange was not kept in memory',
            reason: error.message,
            inputs: { session, error: error.name },
          });
        },
      ),
    );
  }

  /**
   * A span that left an agent's window, summarized by its summarizer into memory. Spans that
   * leave while a summary is being written wait, and the next summary covers all of them that
   * follow one another (one call for many evictions), so every span is covered exactly once.
   */
  evicted(agentName: string, e: WindowEviction): void {
    const agent = this.options.agent(agentName);
    if (!agent?.memory || !memorySettings(agent).summarizer) return;
    const pending = this.pendingSpans.get(agentName) ?? [];
    pending.push(e);
    this.pendingSpans.set(agentName, pending);
    if (!this.summarizing.has(agentName)) this.track(this.drainSummaries(agent));
  }

  /** Waits for memory writes and summaries in flight (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.writes.size > 0) await Promise.all(this.writes);
  }

  /**
   * Where an agent's memory vectors come from: the engine's embedder, else its own model's
   * mean-pooled hidden states (run by its host between generation steps); none when the agent
   * says `embeddings: false`.
   */
  private embedderFor(agent: Readonly<AgentDefinition>): Embedder | undefined {
    if (memorySettings(agent).embeddings === false) return undefined;
    return this.options.embedder ?? this.options.modelEmbedder(agent.model);
  }

  /** Vectors of `texts`, or undefined (and an audit record) when the embedder fails. */
  private async embedQuietly(
    agent: Readonly<AgentDefinition>,
    embedder: Embedder,
    texts: string[],
  ): Promise<Float32Array[] | undefined> {
    try {
      return await embedder.embed(texts);
    } catch (error) {
      this.options.audit.record({
        kind: 'memory',
        subject: `agent:${agent.name}`,
        decision: 'search and keep memory by its text alone this time',
        reason: `the embedder "${embedder.id}" failed: ${(error as Error).message}`,
        inputs: { texts: texts.length },
      });
      return undefined;
    }
  }

  /** Embeddings of items just written, stored beside them (the text stays searchable if not). */
  private async addVectors(
    agent: Readonly<AgentDefinition>,
    kind: MemoryKind,
    ids: number[],
    texts: string[],
  ): Promise<void> {
    const embedder = this.embedderFor(agent);
    if (!embedder || ids.length === 0) return;
    const vectors = await this.embedQuietly(agent, embedder, texts);
    if (!vectors) return;
    try {
      await Promise.all(
        ids.map((id, i) =>
          this.options.store.addEmbedding({
            kind,
            id,
            agent: agent.name,
            model: embedder.id,
            vector: vectors[i],
          }),
        ),
      );
    } catch (error) {
      this.options.audit.record({
        kind: 'memory',
        subject: `agent:${agent.name}`,
        decision: `no embedding kept for ${kind} ${ids.join(', ')}`,
        reason: (error as Error).message,
        inputs: { kind, ids, error: (error as Error).name },
      });
    }
  }

  private track(write: Promise<void>): void {
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }

  private async drainSummaries(agent: Readonly<AgentDefinition>): Promise<void> {
    const agentName = agent.name;
    const settings = memorySettings(agent);
    const summarizer = settings.summarizer!;
    const { audit, store } = this.options;
    this.summarizing.add(agentName);
    try {
      for (;;) {
        const pending = this.pendingSpans.get(agentName) ?? [];
        if (pending.length === 0) return;
        // The longest run of spans of one session that follow one another, up to about
        // SUMMARY_CHARS of text (the summarizer's prompt must fit its context).
        let n = 1;
        let chars = pending[0].text.length;
        while (
          n < pending.length &&
          pending[n].session === pending[0].session &&
          pending[n].range[0] === pending[n - 1].range[1] &&
          chars + pending[n].text.length <= SUMMARY_CHARS
        ) {
          chars += pending[n].text.length;
          n++;
        }
        const run = pending.splice(0, n);
        const span: [number, number] = [run[0].range[0], run[run.length - 1].range[1]];
        const evictedText = run.map((e) => e.text).join('');
        try {
          const text = await this.options.complete(
            summarizer,
            `Summarize this part of a conversation in one or two sentences:\n\n${evictedText}`,
            settings.summaryTokens ?? 64,
          );
          const id = await store.addSummary({
            agent: agentName,
            session: run[0].session,
            span,
            text,
            by: summarizer,
          });
          await this.addVectors(agent, 'summary', [id], [text]);
          audit.record({
            kind: 'memory',
            subject: `agent:${agentName}`,
            decision: `summary #${id} of tokens ${span[0]}..${span[1]} (${run.length} eviction(s)) written by "${summarizer}"`,
            reason: 'the span left the KV window; its raw messages stay in the episode store',
            inputs: { span, evictions: run.length, summary: text },
          });
        } catch (error) {
          audit.record({
            kind: 'memory',
            subject: `agent:${agentName}`,
            decision: `no summary of tokens ${span[0]}..${span[1]}`,
            reason: `the summarizer failed: ${(error as Error).message}`,
            inputs: { span, summarizer },
          });
        }
      }
    } finally {
      this.summarizing.delete(agentName);
    }
  }
}
