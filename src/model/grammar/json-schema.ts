import { RequestError } from '../../errors.js';

// JSON Schema as a byte-level matcher for grammar-constrained sampling: which bytes may come
// next, whether the document is complete, and the shortest text that completes it. The output
// is compact JSON (no insignificant whitespace), object properties in the schema's order.
//
// Supported: type (string, number, integer, boolean, null, object, array, or a list of them),
// properties + required (additional properties are not generated), items, minItems/maxItems,
// minLength/maxLength, enum, const, anyOf/oneOf, and an empty schema (any JSON value). Strings
// are generated without escapes or control characters. Unsupported keywords (pattern, format,
// minimum, ...) are refused with RequestError rather than silently ignored.

export type JsonSchema = boolean | { [keyword: string]: unknown };

/** A compiled schema node. */
type Node =
  | { t: 'any' }
  | { t: 'string'; min: number; max: number }
  | { t: 'number'; integer: boolean }
  | { t: 'boolean' }
  | { t: 'null' }
  | { t: 'literal'; texts: Uint8Array[] }
  | { t: 'object'; props: { key: Uint8Array; node: Node; required: boolean }[]; open: boolean }
  | { t: 'array'; items: Node; min: number; max: number }
  | { t: 'anyOf'; options: Node[] };

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

const SUPPORTED = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'title',
  'description',
  'default',
  'examples',
  '$schema',
  '$id',
  '$comment',
]);

/** Compiles a JSON Schema (the subset above) into matcher nodes. */
/** How deep a schema's properties, items and alternatives may nest. */
export const GRAMMAR_MAX_DEPTH = 32;

/** The largest minLength or minItems a schema may ask for. */
export const GRAMMAR_MAX_MINIMUM = 4096;

export function compileSchema(schema: JsonSchema, path = '#', depth = 0): Node {
  if (depth > GRAMMAR_MAX_DEPTH) {
    throw new RequestError(
      `schema ${path.slice(0, 80)}...: nested deeper than ${GRAMMAR_MAX_DEPTH} levels, more than ` +
        'a grammar may take',
      'response_format',
    );
  }
  if (schema === true) return { t: 'any' };
  if (schema === false) throw new RequestError(`schema ${path} is false: nothing can match it`);
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new RequestError(`schema ${path} must be an object or a boolean`);
  }
  for (const keyword of Object.keys(schema)) {
    if (!SUPPORTED.has(keyword)) {
      throw new RequestError(
        `schema ${path}: "${keyword}" is not supported by grammar-constrained sampling ` +
          `(supported: ${[...SUPPORTED].slice(0, 15).join(', ')})`,
        'response_format',
      );
    }
  }
  if ('const' in schema) return { t: 'literal', texts: [bytes(JSON.stringify(schema.const))] };
  if (Array.isArray(schema.enum)) {
    if (schema.enum.length === 0) throw new RequestError(`schema ${path}: enum is empty`);
    return { t: 'literal', texts: schema.enum.map((v) => bytes(JSON.stringify(v))) };
  }
  const alternatives = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (alternatives) {
    if (!Array.isArray(alternatives) || alternatives.length === 0) {
      throw new RequestError(`schema ${path}: anyOf/oneOf must be a non-empty array`);
    }
    return {
      t: 'anyOf',
      options: alternatives.map((s, i) => compileSchema(s, `${path}/anyOf/${i}`, depth + 1)),
    };
  }
  const type = schema.type;
  if (Array.isArray(type)) {
    return {
      t: 'anyOf',
      options: type.map((t) => compileSchema({ ...schema, type: t }, path, depth + 1)),
    };
  }
  const count = (key: string, fallback: number) => {
    const v = schema[key];
    if (v === undefined) return fallback;
    if (!Number.isInteger(v) || (v as number) < 0) {
      throw new RequestError(`schema ${path}: ${key} must be a non-negative integer`);
    }
    // A lower bound is text the reply must hold: past the limit no reply could be that long.
    if (key.startsWith('min') && (v as number) > GRAMMAR_MAX_MINIMUM) {
      throw new RequestError(
        `schema ${path}: ${key} ${String(v)} asks for more than the ${GRAMMAR_MAX_MINIMUM} a ` +
          'grammar-constrained reply may be made to hold',
        'response_format',
      );
    }
    return v as number;
  };
  const range = (minKey: string, maxKey: string) => {
    const min = count(minKey, 0);
    const max = count(maxKey, Infinity);
    if (min > max) {
      throw new RequestError(
        `schema ${path}: ${minKey} ${min} > ${maxKey} ${max}: nothing can match it`,
        'response_format',
      );
    }
    return { min, max };
  };
  switch (type) {
    case undefined:
      if (schema.properties) return compileSchema({ ...schema, type: 'object' }, path, depth);
      return { t: 'any' };
    case 'string':
      return { t: 'string', ...range('minLength', 'maxLength') };
    case 'number':
    case 'integer':
      return { t: 'number', integer: type === 'integer' };
    case 'boolean':
      return { t: 'boolean' };
    case 'null':
      return { t: 'null' };
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((schema.required ?? []) as string[]);
      for (const key of required) {
        if (!(key in properties)) {
          throw new RequestError(`schema ${path}: required "${key}" is not among its properties`);
        }
      }
      const props = Object.entries(properties).map(([key, s]) => ({
        // The key as matched: quoted, with its colon.
        key: bytes(`${JSON.stringify(key)}:`),
        node: compileSchema(s, `${path}/properties/${key}`, depth + 1),
        required: required.has(key),
      }));
      // No properties named: any keys (json_object mode), unless additionalProperties is
      // false; otherwise only the named ones.
      return {
        t: 'object',
        props,
        open: props.length === 0 && schema.additionalProperties !== false,
      };
    }
    case 'array': {
      const { min, max } = range('minItems', 'maxItems');
      return {
        t: 'array',
        items: compileSchema((schema.items ?? true) as JsonSchema, `${path}/items`, depth + 1),
        min,
        max,
      };
    }
    default:
      throw new RequestError(`schema ${path}: unknown type "${String(type)}"`);
  }
}

// Frames of a matcher stack, top last. All immutable: a byte makes new frames.
type Frame =
  | { k: 'value'; node: Node }
  | { k: 'lit'; text: Uint8Array; i: number }
  /**
   * Inside a string (n < 0: before its opening quote): characters so far, and the UTF-8
   * continuation bytes the current character still needs, the next one within [lo, hi].
   */
  | { k: 'str'; n: number; min: number; max: number; cont?: number; lo?: number; hi?: number }
  | { k: 'num'; integer: boolean; p: 'start' | 'sign' | 'zero' | 'int' | 'dot' | 'frac'; d: number }
  /** An object: `next` is the first property that may still come; `p` what comes next. */
  | {
      k: 'obj';
      node: Extract<Node, { t: 'object' }>;
      p: 'open' | 'first' | 'key' | 'after';
      next: number;
    }
  | {
      k: 'arr';
      node: Extract<Node, { t: 'array' }>;
      p: 'open' | 'first' | 'item' | 'after';
      count: number;
    };

type Stack = readonly Frame[];

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
/** Integer digits and fraction digits at most: a number always ends. */
const MAX_INT_DIGITS = 15;
const MAX_FRAC_DIGITS = 6;

/** A UTF-8 lead byte's continuation count and its first continuation's range (RFC 3629). */
function utf8Lead(b: number): { cont: number; lo: number; hi: number } | undefined {
  if (b >= 0xc2 && b <= 0xdf) return { cont: 1, lo: 0x80, hi: 0xbf };
  if (b === 0xe0) return { cont: 2, lo: 0xa0, hi: 0xbf };
  if (b === 0xed) return { cont: 2, lo: 0x80, hi: 0x9f };
  if (b >= 0xe1 && b <= 0xef) return { cont: 2, lo: 0x80, hi: 0xbf };
  if (b === 0xf0) return { cont: 3, lo: 0x90, hi: 0xbf };
  if (b >= 0xf1 && b <= 0xf3) return { cont: 3, lo: 0x80, hi: 0xbf };
  if (b === 0xf4) return { cont: 3, lo: 0x80, hi: 0x8f };
  return undefined;
}

/** The concrete frames a value of `node` may start as. */
function starts(node: Node): Frame[] {
  switch (node.t) {
    case 'any':
      return [
        ...starts({ t: 'string', min: 0, max: Infinity }),
        ...starts({ t: 'number', integer: false }),
        ...starts({ t: 'literal', texts: [bytes('true'), bytes('false'), bytes('null')] }),
        { k: 'obj', node: { t: 'object', props: [], open: true }, p: 'open', next: 0 },
        { k: 'arr', node: { t: 'array', items: node, min: 0, max: Infinity }, p: 'open', count: 0 },
      ];
    case 'string':
      return [{ k: 'str', n: -1, min: node.min, max: node.max }];
    case 'number':
      return [{ k: 'num', integer: node.integer, p: 'start', d: 0 }];
    case 'boolean':
      return [
        { k: 'lit', text: bytes('true'), i: 0 },
        { k: 'lit', text: bytes('false'), i: 0 },
      ];
    case 'null':
      return [{ k: 'lit', text: bytes('null'), i: 0 }];
    case 'literal':
      return node.texts.map((text) => ({ k: 'lit', text, i: 0 }));
    case 'object':
      return [{ k: 'obj', node, p: 'open', next: 0 }];
    case 'array':
      return [{ k: 'arr', node, p: 'open', count: 0 }];
    case 'anyOf':
      return node.options.flatMap(starts);
  }
}

/** The stacks `stack` becomes on byte `b` (none: `b` is not allowed). */
function feedStack(stack: Stack, b: number): Stack[] {
  if (stack.length === 0) return []; // complete: nothing may follow
  const top = stack[stack.length - 1];
  const below = stack.slice(0, -1);
  const replace = (...frames: Frame[]): Stack[] => [[...below, ...frames]];
  switch (top.k) {
    case 'value':
      return starts(top.node).flatMap((f) => feedStack([...below, f], b));
    case 'lit':
      if (top.text[top.i] !== b) return [];
      return top.i + 1 === top.text.length ? [below] : replace({ ...top, i: top.i + 1 });
    case 'str': {
      if (top.n < 0) return b === QUOTE ? replace({ ...top, n: 0 }) : [];
      const cont = top.cont ?? 0;
      if (cont > 0) {
        // Well-formed UTF-8 only: a stray byte would decode to U+FFFD, another character.
        if (b < top.lo! || b > top.hi!) return [];
        return replace({ ...top, cont: cont - 1, lo: 0x80, hi: 0xbf });
      }
      if (b === QUOTE) return top.n >= top.min ? [below] : [];
      if (b < 0x20 || b === BACKSLASH || b === 0x7f) return [];
      const n = top.n + 1;
      if (n > top.max) return [];
      if (b < 0x80) return replace({ ...top, n });
      const lead = utf8Lead(b);
      return lead ? replace({ ...top, n, ...lead }) : [];
    }
    case 'num':
      return feedNumber(top, below, b);
    case 'obj':
      return feedObject(top, below, b);
    case 'arr':
      return feedArray(top, below, b);
  }
}

function feedNumber(top: Extract<Frame, { k: 'num' }>, below: Stack, b: number): Stack[] {
  const next = (p: typeof top.p, d: number): Stack[] => [[...below, { ...top, p, d }]];
  switch (top.p) {
    case 'start':
    case 'sign':
      if (top.p === 'start' && b === 0x2d) return next('sign', 0);
      if (b === 0x30) return next('zero', 1);
      if (isDigit(b)) return next('int', 1);
      return [];
    case 'zero':
    case 'int':
      if (top.p === 'int' && isDigit(b) && top.d < MAX_INT_DIGITS) return next('int', top.d + 1);
      if (b === 0x2e && !top.integer) return next('dot', 0);
      return feedStack(below, b); // the number ended; b belongs to what follows
    case 'dot':
      return isDigit(b) ? next('frac', 1) : [];
    case 'frac':
      if (isDigit(b) && top.d < MAX_FRAC_DIGITS) return next('frac', top.d + 1);
      return feedStack(below, b);
  }
}

/** Properties that may come next from `next` on: up to and including the first required one. */
function candidates(node: Extract<Node, { t: 'object' }>, next: number): number[] {
  const out: number[] = [];
  for (let j = next; j < node.props.length; j++) {
    out.push(j);
    if (node.props[j].required) break;
  }
  return out;
}

const requiredLeft = (node: Extract<Node, { t: 'object' }>, next: number) =>
  node.props.slice(next).some((p) => p.required);

function feedObject(top: Extract<Frame, { k: 'obj' }>, below: Stack, b: number): Stack[] {
  const { node } = top;
  const keyStarts = (): Stack[] => {
    if (node.open) {
      // Any key (a string), then ':' and any value; the object stays open.
      const rest: Frame[] = [
        { ...top, p: 'after' },
        { k: 'value', node: { t: 'any' } },
        { k: 'lit', text: bytes(':'), i: 0 },
        { k: 'str', n: -1, min: 0, max: Infinity },
      ];
      return feedStack([...below, ...rest], b);
    }
    return candidates(node, top.next).flatMap((j) =>
      feedStack(
        [
          ...below,
          { ...top, p: 'after', next: j + 1 },
          { k: 'value', node: node.props[j].node },
          { k: 'lit', text: node.props[j].key, i: 0 },
        ],
        b,
      ),
    );
  };
  switch (top.p) {
    case 'open':
      return b === 0x7b ? [[...below, { ...top, p: 'first' }]] : [];
    case 'first':
      if (b === 0x7d) return requiredLeft(node, top.next) ? [] : [below];
      return keyStarts();
    case 'key':
      return keyStarts();
    case 'after':
      if (b === 0x7d) return requiredLeft(node, top.next) ? [] : [below];
      if (b === 0x2c) {
        const more = node.open || top.next < node.props.length;
        return more ? [[...below, { ...top, p: 'key' }]] : [];
      }
      return [];
  }
}

function feedArray(top: Extract<Frame, { k: 'arr' }>, below: Stack, b: number): Stack[] {
  const { node } = top;
  const item = (): Stack[] =>
    feedStack(
      [...below, { ...top, p: 'after', count: top.count + 1 }, { k: 'value', node: node.items }],
      b,
    );
  switch (top.p) {
    case 'open':
      return b === 0x5b ? [[...below, { ...top, p: 'first' }]] : [];
    case 'first':
      if (b === 0x5d) return node.min === 0 ? [below] : [];
      return node.max > 0 ? item() : [];
    case 'item':
      return item();
    case 'after':
      if (b === 0x5d) return top.count >= node.min ? [below] : [];
      if (b === 0x2c && top.count < node.max) return [[...below, { ...top, p: 'item' }]];
      return [];
  }
}

// The shortest text that completes a value, a frame, a stack.
const dec = new TextDecoder('utf-8', { ignoreBOM: true });

function minValue(node: Node): string {
  switch (node.t) {
    case 'any':
      return '0';
    case 'string':
      return `"${'a'.repeat(node.min)}"`;
    case 'number':
      return '0';
    case 'boolean':
      return 'true';
    case 'null':
      return 'null';
    case 'literal':
      return shortest(node.texts.map((t) => dec.decode(t)));
    case 'object':
      return `{${requiredFrom(node, 0).join(',')}}`;
    case 'array':
      return `[${Array.from({ length: node.min }, () => minValue(node.items)).join(',')}]`;
    case 'anyOf':
      return shortest(node.options.map(minValue));
  }
}

const shortest = (texts: string[]) =>
  texts.reduce((a, b) => (encoder.encode(b).length < encoder.encode(a).length ? b : a));

function requiredFrom(node: Extract<Node, { t: 'object' }>, next: number): string[] {
  return node.props
    .slice(next)
    .filter((p) => p.required)
    .map((p) => `${dec.decode(p.key)}${minValue(p.node)}`);
}

function completeFrame(f: Frame): string {
  switch (f.k) {
    case 'value':
      return minValue(f.node);
    case 'lit':
      return dec.decode(f.text.subarray(f.i));
    case 'str':
      return f.n < 0 ? `"${'a'.repeat(f.min)}"` : `${'a'.repeat(Math.max(0, f.min - f.n))}"`;
    case 'num':
      return f.p === 'start' || f.p === 'sign' || f.p === 'dot' ? '0' : '';
    case 'obj': {
      const { node } = f;
      if (f.p === 'open') return minValue(node);
      const required = requiredFrom(node, f.next);
      if (f.p === 'key') {
        // After a comma a property must come: the first required one, or the cheapest left.
        if (required.length > 0) return `${required.join(',')}}`;
        if (node.open) return '"":0}';
        const cheapest = shortest(
          node.props.slice(f.next).map((p) => `${dec.decode(p.key)}${minValue(p.node)}`),
        );
        return `${cheapest}}`;
      }
      const tail = required.map((r) => (f.p === 'after' ? `,${r}` : r));
      return f.p === 'first' ? `${tail.join(',')}}` : `${tail.join('')}}`;
    }
    case 'arr': {
      const { node } = f;
      if (f.p === 'open') return minValue(node);
      const item = minValue(node.items);
      if (f.p === 'first') return `${Array.from({ length: node.min }, () => item).join(',')}]`;
      if (f.p === 'item') {
        const more = Math.max(1, node.min - f.count);
        return `${Array.from({ length: more }, () => item).join(',')}]`;
      }
      return `${`,${item}`.repeat(Math.max(0, node.min - f.count))}]`;
    }
  }
}

function completeStack(stack: Stack): Uint8Array {
  // A character cut mid-way is finished first, with the smallest continuation bytes it takes.
  const top = stack[stack.length - 1];
  const partial: number[] = [];
  if (top?.k === 'str' && top.cont) {
    partial.push(top.lo!, ...Array(top.cont - 1).fill(0x80));
  }
  let text = '';
  for (let i = stack.length - 1; i >= 0; i--) text += completeFrame(stack[i]);
  const tail = encoder.encode(text);
  const out = new Uint8Array(partial.length + tail.length);
  out.set(partial);
  out.set(tail, partial.length);
  return out;
}

/** Whether a stack's document may end here: empty, or only numbers that can stop. */
function canEnd(stack: Stack): boolean {
  return stack.every((f) => f.k === 'num' && (f.p === 'zero' || f.p === 'int' || f.p === 'frac'));
}

/** Where a document stands against a schema: the live parses (an NFA's stacks). */
export class JsonMatcher {
  private constructor(private readonly stacks: readonly Stack[]) {}

  static start(schema: JsonSchema): JsonMatcher {
    return new JsonMatcher([[{ k: 'value', node: compileSchema(schema) }]]);
  }

  /** The matcher after `b`, or undefined when `b` cannot come next. */
  feed(b: number): JsonMatcher | undefined {
    const next = this.stacks.flatMap((s) => feedStack(s, b));
    return next.length > 0 ? new JsonMatcher(dedupe(next)) : undefined;
  }

  feedBytes(data: Uint8Array): JsonMatcher | undefined {
    let stacks: readonly Stack[] = this.stacks;
    for (const b of data) {
      stacks = dedupe(stacks.flatMap((s) => feedStack(s, b)));
      if (stacks.length === 0) return undefined;
    }
    return new JsonMatcher(stacks);
  }

  /** The document is a complete value of the schema. */
  get complete(): boolean {
    return this.stacks.some(canEnd);
  }

  /** The shortest bytes after which the document is complete. */
  completion(): Uint8Array {
    return this.stacks.map(completeStack).reduce((a, b) => (b.length < a.length ? b : a));
  }
}

/**
 * Stacks that are the same parse (alternatives that converged) are kept once, when there are
 * enough for the copies to cost more than the comparison.
 */
function dedupe(stacks: readonly Stack[]): readonly Stack[] {
  if (stacks.length < 8) return stacks;
  const seen = new Set<string>();
  return stacks.filter((s) => {
    const key = JSON.stringify(s, (k, v) => (v instanceof Uint8Array ? dec.decode(v) : v));
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
