import * as v from "valibot";
import { createRequire } from "node:module";
import { DURATION_HINT, parseDuration } from "./duration.ts";
import { AqError, oneLine } from "./errors.ts";
import { check } from "./validation.ts";

export const LOCK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const duration = v.pipe(
  v.union([v.string(), v.number()], `must be ${DURATION_HINT}`),
  v.check((value) => parseDuration(value) !== undefined, (issue) => `${JSON.stringify(issue.input)} is not ${DURATION_HINT}`),
  v.transform((value) => parseDuration(value)!),
);

const KNOWN = {
  engine: v.pipe(v.string("must be an engine name"), v.nonEmpty("must be an engine name")),
  cwd: v.pipe(v.string("must be a path"), v.nonEmpty("must be a path")),
  yolo: v.boolean("must be true or false"),
  lock: v.pipe(v.string("must be a lock name"), v.regex(LOCK_NAME, "must be letters, digits, '.', '_' or '-'")),
  timeout: duration,
  stall: duration,
  priority: v.pipe(v.number("must be an integer"), v.integer("must be an integer")),
  maxAttempts: v.pipe(v.number("must be an integer of at least 1"), v.integer("must be an integer of at least 1"), v.minValue(1, "must be at least 1")),
  tracker: v.pipe(v.union([v.string(), v.number()], "must be a tracker item id"), v.transform(String)),
  test: v.pipe(v.string("must be a shell command"), v.nonEmpty("must be a shell command")),
} as const;

const FrontmatterSchema = v.object(
  Object.fromEntries(Object.entries(KNOWN).map(([key, schema]) => [key, v.optional(schema)])) as {
    [K in keyof typeof KNOWN]: v.OptionalSchema<(typeof KNOWN)[K], undefined>;
  },
);

export type JobOptions = v.InferOutput<typeof FrontmatterSchema>;

/** A parsed job file: the known options (durations in ms), every key as written, and the prompt. */
export interface JobSpec extends JobOptions {
  readonly frontmatter: Readonly<Record<string, unknown>>;
  readonly unknownKeys: readonly string[];
  readonly body: string;
}

// The YAML parser is loaded on the first job parsed: commands that read no job file skip it.
let yaml: typeof import("yaml") | undefined;
const parseYaml = (text: string): unknown => (yaml ??= createRequire(import.meta.url)("yaml") as typeof import("yaml")).parse(text);

const FENCE = /^---[ \t]*\r?\n([\s\S]*?)\r?\n?---[ \t]*(?:\r?\n|$)/;

/** Parses job text; throws AqError AQ_BAD_JOB with one line naming `source` and the problem. */
export function parseJob(text: string, source: string): JobSpec {
  const bad = (problem: string) => new AqError("AQ_BAD_JOB", `${source}: ${problem}`);
  let frontmatter: Record<string, unknown> = {};
  let body = text;
  if (text.startsWith("---")) {
    const match = FENCE.exec(text);
    if (!match) throw bad("frontmatter has no closing '---' line");
    body = text.slice(match[0].length);
    let parsed: unknown;
    try {
      parsed = match[1]!.trim() === "" ? {} : parseYaml(match[1]!);
    } catch (error) {
      throw bad(`frontmatter is not valid YAML: ${oneLine(error)}`);
    }
    if (parsed === null || parsed === undefined) parsed = {};
    if (typeof parsed !== "object" || Array.isArray(parsed)) throw bad("frontmatter must be a YAML mapping of keys to values");
    frontmatter = parsed as Record<string, unknown>;
  }
  const result = check(FrontmatterSchema, frontmatter);
  if (!result.ok) throw bad(`frontmatter ${result.problem}`);
  if (body.trim() === "") throw bad("the job has no prompt (the body after the frontmatter is empty)");
  const unknownKeys = Object.keys(frontmatter).filter((key) => !Object.hasOwn(KNOWN, key));
  return { ...result.value, frontmatter, unknownKeys, body };
}

/** Renders a job file from options and a prompt (materialized jobs: tracker items, fleet claims). */
export function renderJob(frontmatter: Record<string, unknown>, body: string): string {
  const lines = Object.entries(frontmatter)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`);
  return `---\n${lines.join("\n")}\n---\n${body.endsWith("\n") ? body : `${body}\n`}`;
}
