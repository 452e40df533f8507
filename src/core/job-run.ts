import { closeSync, existsSync, writeSync } from "node:fs";
import { mkdir, realpath } from "node:fs/promises";
import { writeFileAtomic } from "./atomic-file.ts";
import { newMark } from "./claim.ts";
import { crashPoint } from "./crash-point.ts";
import { join, resolve } from "node:path";
import type { ResolvedConfig } from "./config.ts";
import { watchAgent } from "./agent-watch.ts";
import { formatDuration } from "./duration.ts";
import { engineEnv, invocation, type EngineDef } from "./engines.ts";
import { AqError, FencedError, oneLine } from "./errors.ts";
import type { RunnerHooks } from "./hooks.ts";
import type { JobSpec } from "./job-file.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { FileLock } from "./locks.ts";
import type { Logger } from "./logger.ts";
import { CancelRequested, clearCancelRequest, watchCancelRequest } from "./cancel-request.ts";
import { attemptSeparator } from "./log-attempts.ts";
import { type JobMeta, withoutEngine } from "./meta.ts";
import { runInGroup } from "./process-group.ts";
import { processStartTime } from "./process-ref.ts";
import { openForAppend } from "./queue-file.ts";
import { LOG_FILE, type JobRecord } from "./queue-store.ts";
import { ENGINE_MARK_ENV } from "./recover.ts";
import type { Stage } from "./stages.ts";
import { backOnBranch, commitAll, findRepo, headOf, prepareWorktree, workingDirIn } from "./worktree.ts";

export interface JobContext {
  readonly lifecycle: Lifecycle;
  readonly hooks: RunnerHooks;
  readonly logger: Logger;
  readonly config: ResolvedConfig;
  readonly engines: Readonly<Record<string, EngineDef>>;
  /** Who makes the transitions (history's `by`). */
  readonly by: string;
  /** Aborted with CANCELLED when the runner is told to stop now (a second signal). */
  readonly cancel: AbortSignal;
}

/** The reason a second SIGINT/SIGTERM aborts running jobs with. */
export const CANCELLED = new Error("cancelled: the runner was told to stop now");

export const BLOCKED_EXIT_CODE = 3;

/** Runs one claimed job from assigned/ to its next resting stage; never throws for the job's own failures. */
export async function executeJob(ctx: JobContext, claimed: JobRecord, lock: FileLock | undefined): Promise<Stage> {
  const { lifecycle, config, logger, by } = ctx;
  const { store } = lifecycle;
  const id = claimed.id;
  let stage: Stage = claimed.stage;
  let maxAttempts = config.defaults.maxAttempts;
  const fail = async (reason: string, retryable: boolean, patch?: (meta: JobMeta) => JobMeta): Promise<Stage> =>
    (stage = await lifecycle.fail({ id, stage }, reason, {
      by,
      retryable,
      maxAttempts,
      backoff: config.retry,
      ...(patch ? { patch } : {}),
    }));

  try {
    if (claimed.meta.history.at(-1)?.from === "queued") await lifecycle.announceMove(claimed, "queued", by);
    // Every process started for this attempt carries its mark, recorded before any starts (a job a plugin supplied may lack one).
    const mark = claimed.meta.mark ?? (await store.update(id, "assigned", (m) => ({ ...m, mark: newMark(id) }))).mark!;
    let spec: JobSpec;
    try {
      spec = await store.readSpec(claimed);
    } catch (error) {
      return await fail(oneLine(error), false);
    }
    maxAttempts = spec.maxAttempts ?? maxAttempts;
    if (spec.unknownKeys.length)
      logger.warn(`${id}: unknown frontmatter keys kept for plugins: ${spec.unknownKeys.join(", ")}`);
    const engineName = spec.engine ?? config.defaults.engine;
    const engine = ctx.engines[engineName];
    if (!engine)
      return await fail(`unknown engine "${engineName}" (known: ${Object.keys(ctx.engines).join(", ")})`, false);
    const asked = spec.cwd ? resolve(config.workdir, spec.cwd) : config.workdir;
    if (!existsSync(asked)) return await fail(`cwd ${asked} does not exist`, false);
    // git answers with real paths: a cwd reached through a symlink must be compared as one too.
    const cwd = await realpath(asked);

    const repo = await findRepo(cwd);
    let workDir = cwd;
    let patch: (meta: JobMeta) => JobMeta = (meta) => meta;
    if (repo) {
      const resume = claimed.meta.resume as { commit?: string } | undefined;
      const worktree = await prepareWorktree({
        repo,
        id,
        root: config.worktrees.dir,
        previous: claimed.meta.worktree,
        startAt: resume?.commit,
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
          return await fail(
            `worktree setup failed (${describeExit(setup.exitCode, setup.signal)}): ${config.worktrees.setup}`,
            true,
          );
      }
      workDir = workingDirIn(worktree, cwd);
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
      patch = (meta) => ({
        ...meta,
        worktree: {
          path: worktree.path,
          repo: worktree.repo,
          baseBranch: worktree.baseBranch,
          baseCommit: worktree.baseCommit,
        },
        wip: { branch: worktree.branch, commit: head },
      });
    }
    // What an earlier attempt's agent reported is not this attempt's.
    // The engine is on record (by its mark) before it can start; its process group is added once it has one.
    const engineStart = { name: engineName, startedAt: new Date().toISOString() };
    let meta = await lifecycle.move(id, "assigned", "building", {
      by,
      patch: (m) => ({ ...patch(m), agent: undefined, engine: engineStart }),
    });
    stage = "building";
    const dir = store.jobDir("building", id);
    const promptFile = join(dir, "prompt.txt");
    // Replaced by a rename: a link planted as prompt.txt is replaced, its target never written.
    await writeFileAtomic(promptFile, spec.body);
    crashPoint("spawn:recorded");
    const separator = openForAppend(join(dir, LOG_FILE));
    try {
      writeSync(
        separator,
        `${attemptSeparator({ attempt: meta.attempts, at: new Date().toISOString(), engine: engineName })}\n`,
      );
    } finally {
      closeSync(separator);
    }
    const call = invocation(engine, spec.body, { yolo: spec.yolo ?? config.defaults.yolo, promptFile });

    const abort = new AbortController();
    const stopCancelWatch = watchCancelRequest(dir, (request) => abort.abort(new CancelRequested(request)));
    const onCancel = () => abort.abort(CANCELLED);
    if (ctx.cancel.aborted) onCancel();
    ctx.cancel.addEventListener("abort", onCancel, { once: true });
    const buildEnd = new AbortController();
    ctx.hooks.building.call({ jobId: id, meta, signal: buildEnd.signal, abort: (error) => abort.abort(error) });

    const agent = watchAgent({ store, id, engine: engineName, format: engine.output, jobDir: dir });
    let recorded: Promise<unknown> = Promise.resolve();
    const timeoutMs = spec.timeout ?? config.defaults.timeoutMs;
    const stallMs = spec.stall ?? config.defaults.stallMs;
    logger.info(`${id}: building with ${engineName}${repo ? ` on ${meta.wip?.branch}` : ""}`);
    const result = await runInGroup({
      file: call.file,
      args: call.args,
      cwd: workDir,
      env: engineEnv(process.env, {
        ...call.env,
        AQ_JOB_ID: id,
        AQ_STAGE: "building",
        AQ_QUEUE_DIR: store.root,
        [ENGINE_MARK_ENV]: mark,
      }),
      stdin: call.stdin,
      logFile: join(dir, LOG_FILE),
      timeoutMs,
      stallMs,
      killGraceMs: config.killGraceMs,
      signal: abort.signal,
      onSpawn: (pgid) => {
        crashPoint("spawn:started");
        const startTime = processStartTime(pgid);
        const engineRef = { ...engineStart, pgid, ...(startTime ? { startTime } : {}) };
        recorded = store
          .update(id, "building", (m) => ({ ...m, engine: engineRef }))
          .then(
            () => crashPoint("spawn:pgid-recorded"),
            () => {},
          );
      },
      ...agent.groupOptions,
    });
    buildEnd.abort();
    stopCancelWatch();
    await clearCancelRequest(dir);
    await agent.stop();
    const blocked = agent.blocked();
    // The engine record goes; what the agent reported about its session stays.
    const finished = (m: JobMeta): JobMeta => ({ ...withoutEngine(m), agent: agent.snapshot() });
    ctx.cancel.removeEventListener("abort", onCancel);
    await recorded;

    if (result.aborted instanceof FencedError) throw result.aborted;
    const personCancel = result.aborted instanceof CancelRequested ? result.aborted : undefined;
    if (personCancel?.request.to === "failed") return await fail(personCancel.message, false, finished);
    if (result.aborted === CANCELLED || personCancel) {
      // What the engine did so far is committed: the checkpoint a resume starts from.
      const wip =
        meta.worktree && meta.wip
          ? {
              branch: meta.wip.branch,
              commit: await commitAll(
                meta.worktree.path,
                `aq: ${id}: checkpoint (cancelled)`,
                ctx.hooks.commitTrailers.call({}, meta),
              ),
            }
          : undefined;
      await lifecycle.move(id, "building", "queued", {
        by,
        reason: personCancel?.message ?? "cancelled: the runner was stopped; the attempt does not count",
        patch: (m) => ({ ...finished(m), attempts: Math.max(0, m.attempts - 1), ...(wip ? { wip } : {}) }),
      });
      return (stage = "queued");
    }
    if (result.aborted) return await fail(`aborted: ${oneLine(result.aborted)}`, true, finished);
    if (result.spawnError) {
      const missing = result.spawnError.code === "ENOENT";
      const reason = missing
        ? `engine "${engineName}" is not installed: command "${call.file}" not found on PATH`
        : `engine "${engineName}" could not start: ${oneLine(result.spawnError)}`;
      return await fail(reason, !missing, finished);
    }
    if (result.timedOut) return await fail(`timeout: killed after ${formatDuration(timeoutMs)}`, true, finished);
    if (result.stalled)
      return await fail(`stalled: no agent activity for ${formatDuration(stallMs ?? 0)}`, true, finished);
    if (blocked !== undefined || result.exitCode === BLOCKED_EXIT_CODE) {
      const reason = blocked ?? `engine exited ${BLOCKED_EXIT_CODE} (blocked)`;
      meta = await lifecycle.move(id, "building", "blocked", { by, reason, patch: finished });
      logger.warn(`${id}: blocked: ${reason}`);
      return (stage = "blocked");
    }
    if (result.exitCode !== 0)
      return await fail(`engine ${describeExit(result.exitCode, result.signal)}`, true, finished);

    let wipPatch = finished;
    if (meta.worktree && meta.wip) {
      const astray = await backOnBranch(meta.worktree.path, meta.wip.branch);
      if (astray) return await fail(astray, false, finished);
      const commit = await commitAll(
        meta.worktree.path,
        `aq: ${id} (attempt ${meta.attempts})`,
        ctx.hooks.commitTrailers.call({}, meta),
      );
      const branch = meta.wip.branch;
      wipPatch = (m) => ({ ...finished(m), wip: { branch, commit } });
    }
    await lifecycle.move(id, "building", "review", { by, patch: wipPatch });
    logger.success(`${id}: review (${formatDuration(result.durationMs)})`);
    return (stage = "review");
  } catch (error) {
    if (error instanceof FencedError) return lifecycle.fence(id, error, by);
    const current = (await store.locate(id)) ?? stage;
    if (current !== "assigned" && current !== "building") {
      logger.error(`${id}: ${oneLine(error)}`);
      return current;
    }
    stage = current;
    return await fail(error instanceof AqError ? oneLine(error) : `internal error: ${oneLine(error)}`, true).catch(
      (inner) => {
        logger.error(`${id}: could not record the failure: ${oneLine(inner)}`);
        return stage;
      },
    );
  } finally {
    await lock?.release();
  }
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited ${code}`;
}
