import type { PlacementInput } from '../placement.js';

/**
 * A hard rule of `auto` placement: a policy field under `rules` (its JSON Schema, from which
 * the field's type follows) and, when the policy sets it, whether the request must go to the
 * cloud: the reason why, or undefined to leave it to the next rule.
 */
export interface HardRule<Name extends string, Schema extends RuleSchema> {
  name: Name;
  schema: Schema;
  cloudWhen(value: SchemaValue<Schema>, input: PlacementInput): string | undefined;
}

/** The JSON Schemas a rule's value may have: a flag, or a bounded number. */
export type RuleSchema =
  | { readonly type: 'boolean' }
  | {
      readonly type: 'number' | 'integer';
      readonly minimum?: number;
      readonly maximum?: number;
      readonly exclusiveMinimum?: number;
    };

/** The TypeScript type of a value its schema accepts. */
export type SchemaValue<S extends RuleSchema> = S extends { type: 'boolean' } ? boolean : number;

/** A rule, its value's type inferred from its schema. */
export function hardRule<const Name extends string, const Schema extends RuleSchema>(
  rule: HardRule<Name, Schema>,
): HardRule<Name, Schema> & CheckedRule {
  return {
    ...rule,
    decide: (rules, input) => {
      const value = rules[rule.name];
      return value === undefined ? undefined : rule.cloudWhen(value as SchemaValue<Schema>, input);
    },
  };
}

/** A rule as placement runs it: over the policy's `rules`, whatever their types. */
export interface CheckedRule {
  /** Why the request must go to the cloud by this rule, or undefined (unset, or it holds). */
  decide(rules: Readonly<Record<string, unknown>>, input: PlacementInput): string | undefined;
}

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
