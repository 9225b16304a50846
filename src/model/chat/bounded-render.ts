import { Environment, Interpreter, type Template } from '@huggingface/jinja';

// A chat template comes with the model file, so it is input like any other: a
// `{% for i in range(100000000) %}` would hang the load and fill memory. Templates render here
// under three bounds: evaluation steps, the items one range() may make, and the length of any
// text the template builds. Real templates stay far inside them: a 400-turn conversation takes
// Qwen2.5's template ~21,000 steps, Llama 3.2's ~11,000.

export interface RenderBounds {
  /** Expressions and statements evaluated in one render. */
  steps: number;
  /** Characters in any one string the template builds (the prompt included). */
  textLength: number;
}

export const RENDER_BOUNDS: RenderBounds = { steps: 1_000_000, textLength: 8 * 1024 * 1024 };

/** A template went past a bound: what it was doing, for the error message. */
export class RenderBoundError extends Error {
  static {
    this.prototype.name = 'RenderBoundError';
  }
}

class BoundedInterpreter extends Interpreter {
  private steps = 0;
  constructor(
    env: Environment,
    private readonly bounds: RenderBounds,
  ) {
    super(env);
  }

  /**
   * Counts `n` steps against the bound (range() counts the items it would make first); `what`
   * names the step for the error, made only then (every evaluation passes through here).
   */
  spend(n: number, what: () => string): void {
    this.steps += n;
    if (this.steps > this.bounds.steps) {
      throw new RenderBoundError(
        `it ran past ${this.bounds.steps.toLocaleString('en')} evaluation steps (${what()})`,
      );
    }
  }

  override evaluate(
    ...args: Parameters<Interpreter['evaluate']>
  ): ReturnType<Interpreter['evaluate']> {
    this.spend(1, () => `at a ${args[0]?.type ?? 'statement'}`);
    const value = super.evaluate(...args);
    if (typeof value.value === 'string' && value.value.length > this.bounds.textLength) {
      throw new RenderBoundError(
        `it built a text of ${value.value.length.toLocaleString('en')} characters (at most ` +
          `${this.bounds.textLength.toLocaleString('en')})`,
      );
    }
    return value;
  }
}

/**
 * `template` rendered with `items` as Template.render would (the same globals: true/false/none
 * in both spellings, raise_exception, range, strftime_now), within `bounds`; past them a
 * RenderBoundError.
 */
export function renderBounded(
  template: Template,
  items: Record<string, unknown>,
  bounds: RenderBounds = RENDER_BOUNDS,
): string {
  const env = new Environment();
  const interpreter = new BoundedInterpreter(env, bounds);
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    range: (start: number, stop?: number, step = 1) => {
      if (stop === undefined) [start, stop] = [0, start];
      if (step === 0) throw new Error('range() step must not be zero');
      const count = Math.max(0, Math.ceil((stop - start) / step));
      interpreter.spend(count, () => `range() of ${count.toLocaleString('en')} items`);
      return Array.from({ length: count }, (_, i) => start + i * step);
    },
    strftime_now: (format: string) => strftime(new Date(), format),
  };
  for (const [name, value] of Object.entries({ ...globals, ...items })) {
    // A caller's variable may shadow a global, as Jinja allows; Environment.set would refuse.
    if (env.variables.has(name)) env.variables.delete(name);
    env.set(name, value);
  }
  const result = interpreter.run(template.parsed);
  return String(result.value);
}

/** Python's strftime for the directives chat templates use (%Y %m %d %b %B %H %M %%). */
function strftime(date: Date, format: string): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return format.replace(/%[YmdbBHM%]/g, (token) => {
    switch (token) {
      case '%Y':
        return String(date.getFullYear());
      case '%m':
        return pad(date.getMonth() + 1);
      case '%d':
        return pad(date.getDate());
      case '%b':
        return date.toLocaleString('en', { month: 'short' });
      case '%B':
        return date.toLocaleString('en', { month: 'long' });
      case '%H':
        return pad(date.getHours());
      case '%M':
        return pad(date.getMinutes());
      default:
        return '%';
    }
  });
}
