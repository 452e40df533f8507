import * as v from "valibot";

/** True when a value is already exactly what its schema would output (so parsing it would copy it unchanged). */
export type ShapeCheck = (value: unknown) => boolean;

type Node = {
  readonly type: string;
  readonly pipe?: unknown;
  readonly wrapped?: Node;
  readonly default?: unknown;
  readonly options?: readonly unknown[];
  readonly item?: Node;
  readonly entries?: Record<string, Node>;
};

const no: ShapeCheck = () => false;

/**
 * A check compiled from a valibot schema, for the reads that list thousands of files the store
 * wrote itself (`aq status`, a claim): it accepts only values the schema accepts unchanged —
 * no key a strict object would strip, no default to fill in, no pipe — and answers false for
 * anything else, which the caller then parses with valibot for its output or its one-line problem.
 */
export function shapeCheck(schema: v.GenericSchema): ShapeCheck {
  return compile(schema as unknown as Node);
}

function compile(node: Node): ShapeCheck {
  if (node.pipe) return pipeCheck(node);
  switch (node.type) {
    case "string":
      return (value) => typeof value === "string";
    case "number":
      return (value) => typeof value === "number" && !Number.isNaN(value);
    case "boolean":
      return (value) => typeof value === "boolean";
    case "picklist": {
      const options = new Set(node.options);
      return (value) => options.has(value);
    }
    case "optional":
    case "nullable": {
      if (node.default !== undefined || !node.wrapped) return no;
      const inner = compile(node.wrapped);
      const empty = node.type === "optional" ? undefined : null;
      return (value) => value === empty || inner(value);
    }
    case "array": {
      if (!node.item) return no;
      const item = compile(node.item);
      return (value) => Array.isArray(value) && value.every(item);
    }
    case "object":
    case "loose_object":
      return objectCheck(node.entries ?? {}, node.type === "object");
    default:
      return no;
  }
}

type Action = { readonly kind: string; readonly type?: string; readonly requirement?: unknown };

/**
 * A pipe of validations only (a regex, a length) keeps its value. A string with regex checks (an
 * origin's kind, in every meta) is tested here, as valibot's regex action tests it; for any other,
 * valibot itself answers whether it passes.
 */
function pipeCheck(node: Node): ShapeCheck {
  const [, ...actions] = node.pipe as readonly Action[];
  const primitive = ["string", "number", "boolean", "picklist"].includes(node.type);
  if (!primitive || !actions.every((action) => action.kind === "validation")) return no;
  const patterns = node.type === "string" ? actions.map(statelessRegex) : [];
  if (patterns.length && patterns.every((pattern) => pattern !== undefined))
    return (value) => typeof value === "string" && patterns.every((pattern) => pattern!.test(value));
  const schema = node as unknown as v.GenericSchema;
  return (value) => v.is(schema, value);
}

/** The pattern of a regex action whose test keeps no state between calls (no global or sticky flag). */
function statelessRegex(action: Action): RegExp | undefined {
  const pattern = action.type === "regex" ? action.requirement : undefined;
  return pattern instanceof RegExp && !pattern.global && !pattern.sticky ? pattern : undefined;
}

function objectCheck(entries: Record<string, Node>, strict: boolean): ShapeCheck {
  const fields = Object.entries(entries).map(([key, schema]) => {
    const optional = schema.type === "optional" && schema.default === undefined;
    return { key, optional, check: compile(schema) };
  });
  const known = new Set(Object.keys(entries));
  return (value) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
    const record = value as Record<string, unknown>;
    for (const { key, optional, check } of fields) {
      if (!Object.hasOwn(record, key)) {
        if (optional) continue;
        return false;
      }
      if (!check(record[key])) return false;
    }
    if (strict) for (const key in record) if (!known.has(key)) return false;
    return true;
  };
}
