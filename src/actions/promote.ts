import { realpath } from "node:fs/promises";
import { join } from "node:path";
import type { Aq } from "../app.ts";
import { AqError } from "../core/errors.ts";
import { describeExit } from "../core/job-run.ts";
import { runInGroup } from "../core/process-group.ts";
import { LOG_FILE } from "../core/queue-store.ts";
import { engineEnv } from "../core/engines.ts";
import { workingDirIn } from "../core/worktree.ts";
import { resolve } from "node:path";

export interface PromoteResult {
  readonly id: string;
  readonly stage: "testing" | "failed";
  readonly test?: { command: string; exit: string; durationMs: number };
}

/** review → testing, then the job's `test` command in its worktree; a failing test fails the job. */
export async function promote(aq: Aq, id: string): Promise<PromoteResult> {
  const job = await aq.store.get(id);
  if (job.stage !== "review")
    throw new AqError("AQ_CONFLICT", `job ${id} is in ${job.stage}/; only a job in review/ can be promoted`);
  const spec = await aq.store.readSpec(job);
  await aq.lifecycle.move(id, "review", "testing", { by: aq.by });
  if (!spec.test) return { id, stage: "testing" };
  const asked = spec.cwd ? resolve(aq.config.workdir, spec.cwd) : aq.config.workdir;
  const cwd = await realpath(asked).catch(() => asked);
  const where = job.meta.worktree ? workingDirIn(job.meta.worktree, cwd) : cwd;
  const dir = aq.store.jobDir("testing", id);
  await aq.store.appendLog({ dir }, `\n--- aq promote: ${spec.test}\n`);
  const result = await runInGroup({
    file: "sh",
    args: ["-c", spec.test],
    cwd: where,
    env: engineEnv(process.env, { AQ_JOB_ID: id, AQ_STAGE: "testing", AQ_QUEUE_DIR: aq.store.root }),
    logFile: join(dir, LOG_FILE),
    timeoutMs: spec.timeout ?? aq.config.defaults.timeoutMs,
    killGraceMs: aq.config.killGraceMs,
  });
  const exit = result.timedOut
    ? "timed out"
    : result.spawnError
      ? `could not start: ${result.spawnError.message}`
      : describeExit(result.exitCode, result.signal);
  const test = { command: spec.test, exit, durationMs: result.durationMs };
  if (result.exitCode === 0 && !result.timedOut) return { id, stage: "testing", test };
  await aq.lifecycle.move(id, "testing", "failed", { by: aq.by, reason: `test failed (${exit}): ${spec.test}` });
  return { id, stage: "failed", test };
}
