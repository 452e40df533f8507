import { existsSync } from "node:fs";
import { mkdir, realpath } from "node:fs/promises";
import { join, resolve } from "node:path";
import { newMark } from "../claim.ts";
import { crashPoint } from "../crash-point.ts";
import { type EngineDef, engineEnv } from "../engines.ts";
import { oneLine } from "../errors.ts";
import type { JobSpec } from "../job-file.ts";
import type { JobMeta } from "../meta.ts";
import { runInGroup } from "../process-group.ts";
import { type JobRecord, LOG_FILE } from "../queue-store.ts";
import { ENGINE_MARK_ENV } from "../recover.ts";
import { commitAll, findRepo, headOf, prepareWorktree, workingDirIn } from "../worktree.ts";
import type { JobContext, JobProgress } from "./context.ts";
import { describeExit } from "./exit.ts";

/** Everything the run needs, decided before the engine starts. */
export interface Plan {
  readonly kind: "planned";
  readonly spec: JobSpec;
  readonly engineName: string;
  readonly engine: EngineDef;
  /** Every process started for this attempt carries it (AQ_ENGINE_MARK). */
  readonly mark: string;
  /** Where the engine works: the job's cwd, inside its worktree when the cwd is in a git repository. */
  readonly workDir: string;
  readonly inRepo: boolean;
  /** What the move to building records: the worktree and the commit the attempt starts from. */
  readonly patch: (meta: JobMeta) => JobMeta;
}

/** A job that cannot run as it is: settle fails it without starting anything. */
export interface Unplannable {
  readonly kind: "unplannable";
  readonly reason: string;
  readonly retryable: boolean;
}

/**
 * Reads the job and readies its place, in assigned/: the attempt's mark, the spec, the engine,
 * the cwd, and in a repository the worktree (from a resume commit when one is set), its setup
 * and the work an earlier attempt left, committed.
 */
export async function planJob(ctx: JobContext, claimed: JobRecord, progress: JobProgress): Promise<Plan | Unplannable> {
  const { lifecycle, config, logger } = ctx;
  const { store } = lifecycle;
  const id = claimed.id;
  // Every process started for this attempt carries its mark, recorded before any starts (a job a plugin supplied may lack one).
  const mark = claimed.meta.mark ?? (await store.update(id, "assigned", (m) => ({ ...m, mark: newMark(id) }))).mark!;
  let spec: JobSpec;
  try {
    spec = await store.readSpec(claimed);
  } catch (error) {
    return unplannable(oneLine(error), false);
  }
  progress.maxAttempts = spec.maxAttempts ?? progress.maxAttempts;
  if (spec.unknownKeys.length)
    logger.warn(`${id}: unknown frontmatter keys kept for plugins: ${spec.unknownKeys.join(", ")}`);
  const engineName = spec.engine ?? config.defaults.engine;
  const engine = ctx.engines[engineName];
  if (!engine)
    return unplannable(`unknown engine "${engineName}" (known: ${Object.keys(ctx.engines).join(", ")})`, false);
  const asked = spec.cwd ? resolve(config.workdir, spec.cwd) : config.workdir;
  if (!existsSync(asked)) return unplannable(`cwd ${asked} does not exist`, false);
  // git answers with real paths: a cwd reached through a symlink must be compared as one too.
  const cwd = await realpath(asked);

  const repo = await findRepo(cwd);
  const planned = { kind: "planned", spec, engineName, engine, mark } as const;
  if (!repo) return { ...planned, workDir: cwd, inRepo: false, patch: (meta) => meta };
  const worktree = await prepareWorktree({
    repo,
    id,
    root: config.worktrees.dir,
    previous: claimed.meta.worktree,
    startAt: resumeCommit(claimed.meta),
  });
  crashPoint("worktree:added");
  if (worktree.created && config.worktrees.setup) {
    const setup = await runInGroup({
      file: "sh",
      args: ["-c", config.worktrees.setup],
      cwd: worktree.path,
      env: engineEnv(process.env, { AQ_JOB_ID: id, AQ_QUEUE_DIR: store.root, [ENGINE_MARK_ENV]: mark }),
      logFile: join(claimed.dir, LOG_FILE),
      killGraceMs: config.killGraceMs,
      timeoutMs: config.defaults.timeoutMs,
    });
    if (setup.exitCode !== 0)
      return unplannable(
        `worktree setup failed (${describeExit(setup.exitCode, setup.signal)}): ${config.worktrees.setup}`,
        true,
      );
  }
  const workDir = workingDirIn(worktree, cwd);
  // A directory of the repository that no commit holds (new, ignored) is not in a fresh worktree.
  await mkdir(workDir, { recursive: true });
  // A retry keeps what an earlier attempt left, committed, so the checkpoint names all of it.
  const head = worktree.created
    ? await headOf(worktree.path)
    : await commitAll(
        worktree.path,
        `aq: ${id}: work left by an earlier attempt`,
        ctx.hooks.commitTrailers.call({}, claimed.meta),
      );
  return {
    ...planned,
    workDir,
    inRepo: true,
    patch: (meta) => ({
      ...meta,
      worktree: {
        path: worktree.path,
        repo: worktree.repo,
        baseBranch: worktree.baseBranch,
        baseCommit: worktree.baseCommit,
      },
      wip: { branch: worktree.branch, commit: head },
    }),
  };
}

/**
 * The commit a new worktree starts from: `resumeFrom`, which any plugin may set (the fleet's
 * checkpoint), else the untyped `resume` an earlier aq wrote into jobs that may still be queued.
 */
export function resumeCommit(meta: JobMeta): string | undefined {
  if (meta.resumeFrom) return meta.resumeFrom.commit;
  const legacy = (meta as { resume?: unknown }).resume;
  const commit = (legacy as { commit?: unknown } | null | undefined)?.commit;
  return typeof commit === "string" ? commit : undefined;
}

function unplannable(reason: string, retryable: boolean): Unplannable {
  return { kind: "unplannable", reason, retryable };
}
