import { RequestError } from '../errors.js';
import type { ChatMessage } from '../model/chat/index.js';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  RequestOptions,
} from '../api/openai.js';

// Task graphs: steps with dependencies, each on an agent; a step starts as soon as the steps it
// depends on have finished, so independent steps run concurrently, and their outputs flow into
// later prompts through {{step-id}} placeholders.

export interface TaskStep {
  id: string;
  /** The agent that runs the step. */
  agent: string;
  /** The user message; {{id}} is replaced by step id's output. */
  prompt: string;
  dependsOn?: string[];
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  priority?: 'interactive' | 'background';
}

export interface TaskGraph {
  steps: TaskStep[];
}

export interface TaskStepResult {
  id: string;
  agent: string;
  output: string;
  /** Date.now() when it started and finished: overlapping steps ran concurrently. */
  startedAt: number;
  finishedAt: number;
  completion: ChatCompletion;
}

export type TaskGraphResult = Record<string, TaskStepResult>;

interface Completer {
  chat: {
    completions: {
      create(
        p: ChatCompletionCreateParamsNonStreaming,
        o?: RequestOptions,
      ): Promise<ChatCompletion>;
    };
  };
}

/** Checks the graph: unique ids, known dependencies, no cycles. Returns the steps by id. */
export function checkTaskGraph(graph: TaskGraph): Map<string, TaskStep> {
  const steps = new Map<string, TaskStep>();
  for (const step of graph.steps) {
    if (steps.has(step.id)) throw new RequestError(`task step "${step.id}" appears twice`);
    steps.set(step.id, step);
  }
  for (const step of graph.steps) {
    for (const dep of step.dependsOn ?? []) {
      if (!steps.has(dep)) {
        throw new RequestError(`task step "${step.id}" depends on "${dep}", which is not a step`);
      }
    }
    for (const [, name] of step.prompt.matchAll(/\{\{([^}]+)\}\}/g)) {
      if (!(step.dependsOn ?? []).includes(name)) {
        throw new RequestError(
          `task step "${step.id}" uses {{${name}}} but does not depend on "${name}"`,
        );
      }
    }
  }
  // Depth-first: a step met again while on the path closes a cycle.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, path: string[]) => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      throw new RequestError(`task graph has a cycle: ${[...path, id].join(' -> ')}`);
    }
    state.set(id, 'visiting');
    for (const dep of steps.get(id)!.dependsOn ?? []) visit(dep, [...path, id]);
    state.set(id, 'done');
  };
  for (const id of steps.keys()) visit(id, []);
  return steps;
}

/**
 * Runs every step once its dependencies are done; rejects with the first failure (aborting
 * the steps still running) or when `options.signal` aborts.
 */
export async function runTaskGraph(
  engine: Completer,
  graph: TaskGraph,
  options: RequestOptions = {},
): Promise<TaskGraphResult> {
  const steps = checkTaskGraph(graph);
  const controller = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, controller.signal])
    : controller.signal;
  const results: TaskGraphResult = {};
  const running = new Map<string, Promise<TaskStepResult>>();
  const start = (step: TaskStep): Promise<TaskStepResult> => {
    let promise = running.get(step.id);
    if (promise) return promise;
    promise = (async () => {
      const deps = await Promise.all((step.dependsOn ?? []).map((d) => start(steps.get(d)!)));
      const outputs = new Map(deps.map((r) => [r.id, r.output]));
      const content = step.prompt.replace(/\{\{([^}]+)\}\}/g, (_, id: string) => outputs.get(id)!);
      const messages: ChatMessage[] = [{ role: 'user', content }];
      const startedAt = Date.now();
      const completion = await engine.chat.completions.create(
        {
          agent: step.agent,
          messages,
          max_tokens: step.maxTokens,
          temperature: step.temperature,
          seed: step.seed,
          priority: step.priority,
        },
        { signal },
      );
      const result = {
        id: step.id,
        agent: step.agent,
        output: completion.choices[0].message.content ?? '',
        startedAt,
        finishedAt: Date.now(),
        completion,
      };
      results[step.id] = result;
      return result;
    })();
    running.set(step.id, promise);
    return promise;
  };
  try {
    await Promise.all([...steps.values()].map(start));
  } catch (error) {
    controller.abort(error);
    await Promise.allSettled(running.values());
    throw error;
  }
  return results;
}
