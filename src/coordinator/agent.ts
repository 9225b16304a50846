import { RequestError } from '../errors.js';

// An agent: a name, a model, a system prompt, where it runs, its memory and its limits.

export interface AgentDefinition {
  name: string;
  /** A model id of the engine. */
  model: string;
  systemPrompt?: string;
  /** 'background' agents' steps wait behind 'interactive' ones (default 'interactive'). */
  role?: 'interactive' | 'background';
  /**
   * Where the agent's requests run: 'local' (its model's host worker, the default), 'cloud'
   * (the engine's offload endpoint) or 'auto' (the offload policy's rules, then what it learned;
   * each decision and its reason go to the audit log). A failure on one side finishes on the
   * other where the policy allows, continuing the text already shown.
   */
  placement?: 'local' | 'cloud' | 'auto';
  /** A private agent's requests, and its memory, never leave the device. */
  private?: boolean;
  /**
   * Long-term memory (the engine's `memory` store): each reply's exchange is kept as episodes,
   * the memory most relevant to the new message goes into the system prompt within
   * `budgetTokens` (default 256), and with a `summarizer` agent every span that leaves this
   * agent's KV window is summarized into the store. `budgetTokens: 0` keeps memory without
   * recalling it into prompts. Each kept item gets an embedding for hybrid retrieval: from the
   * engine's `embedder` when it has one, else the mean-pooled hidden states of the agent's own
   * model; `embeddings: false` searches the text alone.
   */
  memory?:
    | boolean
    | {
        budgetTokens?: number;
        k?: number;
        summarizer?: string;
        summaryTokens?: number;
        embeddings?: boolean;
        /** Recalled memory stays on the device: requests sent to the cloud go without it. */
        private?: boolean;
      };
  /**
   * The agent keeps its conversation: each request carries only the new messages, and the
   * host feeds only them after the conversation so far (through the KV window), instead of the
   * client resending the whole conversation.
   */
  keepsConversation?: boolean;
  limits?: {
    /** Tokens one reply may take at most (default 512). */
    maxTokens?: number;
    /** Requests waiting or running at once before QueueFullError (default 16). */
    queue?: number;
  };
}

/** Checks an agent definition and returns it frozen. */
export function defineAgent(agent: AgentDefinition): Readonly<AgentDefinition> {
  if (!agent.name) throw new RequestError('an agent needs a name', 'name');
  if (!agent.model) throw new RequestError(`agent "${agent.name}" needs a model`, 'model');
  if (agent.placement !== undefined && !['local', 'cloud', 'auto'].includes(agent.placement)) {
    throw new RequestError(
      `agent "${agent.name}": placement "${String(agent.placement)}" is not one of local, cloud, auto`,
      'placement',
    );
  }
  if (agent.private && agent.placement === 'cloud') {
    throw new RequestError(
      `agent "${agent.name}" is private and placed in the cloud: a private agent never leaves ` +
        "the device; place it 'local' or 'auto'",
      'placement',
    );
  }
  const queue = agent.limits?.queue;
  if (queue !== undefined && !(Number.isInteger(queue) && queue > 0)) {
    throw new RequestError(`agent "${agent.name}": limits.queue must be a positive integer`);
  }
  return Object.freeze({ ...agent });
}

/** The agent's memory settings: {} when it asks for memory with `true`. */
export function memorySettings(
  agent: Readonly<AgentDefinition>,
): Exclude<AgentDefinition['memory'], boolean | undefined> {
  return typeof agent.memory === 'object' ? agent.memory : {};
}

/** The KV session an agent's conversation keeps on its model's host. */
export function agentSession(agent: Readonly<AgentDefinition>): string {
  return `agent:${agent.name}`;
}
