import * as v from "valibot";

/** The first issue of a failed valibot parse as `key.path: message`, one line. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): { key: string; message: string } {
  const issue = issues[0]!;
  const key = v.getDotPath(issue) ?? "";
  return { key, message: issue.message };
}

export function formatIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  const { key, message } = describeIssues(issues);
  return key ? `${key}: ${message}` : message;
}

/** Parses or returns the one-line problem; the caller decides which error carries it. */
export function check<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
): { ok: true; value: v.InferOutput<S> } | { ok: false; problem: string; key: string } {
  const result = v.safeParse(schema, input);
  if (result.success) return { ok: true, value: result.output };
  const { key, message } = describeIssues(result.issues);
  return { ok: false, problem: key ? `${key}: ${message}` : message, key };
}
