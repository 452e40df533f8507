import { statSync } from "node:fs";
import { resolve } from "node:path";
import { closest } from "./suggest.ts";
import type { ResolvedConfig } from "./config.ts";
import { AqError } from "./errors.ts";
import type { JobSpec } from "./job-file.ts";

/** The frontmatter keys aq itself reads (job-file.ts validates their values). */
export const JOB_KEYS = [
  "engine",
  "cwd",
  "yolo",
  "lock",
  "timeout",
  "stall",
  "priority",
  "maxAttempts",
  "tracker",
  "test",
] as const;

/**
 * What `aq add` can know before queueing a job that could only fail later: a key that is a typo
 * of one of aq's own (a plugin's keys are left alone), an engine that is neither built in nor
 * configured, a `cwd` that does not exist here. Each is one line, exit 2.
 */
export function checkJobBeforeAdd(
  spec: JobSpec,
  source: string,
  config: ResolvedConfig,
  engines: Readonly<Record<string, unknown>>,
): void {
  for (const key of spec.unknownKeys) {
    const meant = closest(key, JOB_KEYS);
    if (meant && !(meant in spec.frontmatter))
      throw new AqError("AQ_BAD_JOB", `${source}: unknown key "${key}"; did you mean "${meant}"?`);
  }
  const engine = spec.engine ?? config.defaults.engine;
  if (!Object.hasOwn(engines, engine)) {
    const names = Object.keys(engines);
    const meant = closest(engine, names);
    const from = spec.engine === undefined ? `the config's defaults.engine, "${engine}",` : `engine "${engine}"`;
    throw new AqError(
      "AQ_BAD_JOB",
      `${source}: ${from} is neither built in nor in the config's engines${meant ? `; did you mean "${meant}"?` : ` (known: ${names.join(", ")})`}`,
    );
  }
  const cwd = spec.cwd === undefined ? config.workdir : resolve(config.workdir, spec.cwd);
  const found = statSync(cwd, { throwIfNoEntry: false });
  if (!found) throw new AqError("AQ_BAD_JOB", `${source}: cwd ${cwd} does not exist`);
  if (!found.isDirectory()) throw new AqError("AQ_BAD_JOB", `${source}: cwd ${cwd} is not a directory`);
}
