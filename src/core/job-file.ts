import * as v from "valibot";
import { createRequire } from "node:module";
import { DURATION_HINT, durationProblem, parseDuration } from "./duration.ts";
import { AqError, oneLine } from "./errors.ts";
import { check } from "./validation.ts";

export const LOCK_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const duration = v.pipe(
  v.union([v.string(), v.number()], `must be ${DURATION_HINT}`),
  v.check(
    (value) => parseDuration(value) !== undefined,
    (issue) => durationProblem(issue.input)!,
  ),
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
  maxAttempts: v.pipe(
    v.number("must be an integer of at least 1"),
    v.integer("must be an integer of at least 1"),
    v.minValue(1, "must be at least 1"),
  ),
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

/** Limits that keep one job file from holding a runner (parsing 40,000 keys took 13 s, a 50 MB value 2 GB). */
export const JOB_LIMITS = Object.freeze({
  /** The whole file: frontmatter and prompt. */
  jobBytes: 1024 * 1024,
  frontmatterBytes: 64 * 1024,
  /** Keys of every mapping in the frontmatter, nested ones included. */
  frontmatterKeys: 256,
  /** YAML aliases (`*a`): a few are fine, a billion laughs are not. */
  aliases: 100,
});

// The YAML parser is loaded on the first job parsed: commands that read no job file skip it.
let yaml: typeof import("yaml") | undefined;
const loadYaml = (): typeof import("yaml") =>
  (yaml ??= createRequire(import.meta.url)("yaml") as typeof import("yaml"));

const FENCE = /^---[ \t]*\r?\n([\s\S]*?)\r?\n?---[ \t]*(?:\r?\n|$)/;

/** Parses job text; throws AqError AQ_BAD_JOB with one line naming `source` and the problem. */
export function parseJob(text: string, source: string): JobSpec {
  const bad = (problem: string) => new AqError("AQ_BAD_JOB", `${source}: ${problem}`);
  const size = Buffer.byteLength(text);
  if (size > JOB_LIMITS.jobBytes) throw bad(`the job is ${size} bytes, over the limit of ${JOB_LIMITS.jobBytes}`);
  let frontmatter: Record<string, unknown> = {};
  let body = text;
  if (text.startsWith("---")) {
    const match = FENCE.exec(text);
    if (!match) throw bad("frontmatter has no closing '---' line");
    body = text.slice(match[0].length);
    const parsed = match[1]!.trim() === "" ? {} : parseFrontmatter(match[1]!, bad);
    if (typeof parsed !== "object" || Array.isArray(parsed))
      throw bad("frontmatter must be a YAML mapping of keys to values");
    frontmatter = parsed as Record<string, unknown>;
  }
  const result = check(FrontmatterSchema, frontmatter);
  if (!result.ok) throw bad(`frontmatter ${result.problem}`);
  if (body.trim() === "") throw bad("the job has no prompt (the body after the frontmatter is empty)");
  const unknownKeys = Object.keys(frontmatter).filter((key) => !Object.hasOwn(KNOWN, key));
  return { ...result.value, frontmatter, unknownKeys, body };
}

/**
 * The frontmatter's YAML, bounded: its size is checked before parsing, its keys counted before
 * they become an object, aliases capped. yaml's own duplicate-key check is quadratic, so top-level
 * duplicates are found here. A warning (an unknown tag such as `!!js/function`) refuses the job
 * instead of being printed by the library.
 */
function parseFrontmatter(source: string, bad: (problem: string) => AqError): unknown {
  const size = Buffer.byteLength(source);
  if (size > JOB_LIMITS.frontmatterBytes)
    throw bad(`frontmatter is ${size} bytes, over the limit of ${JOB_LIMITS.frontmatterBytes}`);
  const { parseDocument, isMap, isPair, isScalar, visit } = loadYaml();
  const doc = parseDocument(source, { uniqueKeys: false, logLevel: "silent", prettyErrors: false });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) throw bad(`frontmatter is not valid YAML: ${oneLine(problem)}`);
  let keys = 0;
  visit(doc, { Pair: () => (++keys > JOB_LIMITS.frontmatterKeys ? visit.BREAK : undefined) });
  if (keys > JOB_LIMITS.frontmatterKeys) throw bad(`frontmatter has more than ${JOB_LIMITS.frontmatterKeys} keys`);
  if (isMap(doc.contents)) {
    const seen = new Set<unknown>();
    for (const pair of doc.contents.items) {
      const key = isPair(pair) && isScalar(pair.key) ? pair.key.value : undefined;
      if (key !== undefined && seen.has(key))
        throw bad(`frontmatter is not valid YAML: the key ${JSON.stringify(key)} appears twice`);
      seen.add(key);
    }
  }
  try {
    return doc.toJS({ maxAliasCount: JOB_LIMITS.aliases }) ?? {};
  } catch (error) {
    throw bad(`frontmatter is not valid YAML: ${oneLine(error)}`);
  }
}

/** Renders a job file from options and a prompt (materialized jobs: tracker items, fleet claims). */
export function renderJob(frontmatter: Record<string, unknown>, body: string): string {
  const lines = Object.entries(frontmatter)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`);
  return `---\n${lines.join("\n")}\n---\n${body.endsWith("\n") ? body : `${body}\n`}`;
}
