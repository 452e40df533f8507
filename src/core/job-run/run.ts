import { closeSync, writeSync } from "node:fs";
import { join } from "node:path";
import { watchAgent } from "../agent-watch.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { clearCancelRequest, watchCancelRequest } from "../cancel-request.ts";
import { crashPoint } from "../crash-point.ts";
import { engineEnv, invocation } from "../engines.ts";
import { attemptSeparator } from "../log-attempts.ts";
import { type JobMeta, withoutEngine } from "../meta.ts";
import { type GroupResult, runInGroup } from "../process-group.ts";
import { processStartTime } from "../process-ref.ts";
import { openForAppend } from "../queue-file.ts";
import { LOG_FILE } from "../queue-store.ts";
import { ENGINE_MARK_ENV } from "../recover.ts";
import { backOnBranch } from "../worktree.ts";
import { abortedByPlugin, abortReasonOf, cancelledBy, SHUTDOWN } from "./abort.ts";
import type { JobContext, JobProgress } from "./context.ts";
import { BLOCKED_EXIT_CODE } from "./exit.ts";
import type { Plan } from "./plan.ts";
import type { Outcome } from "./settle.ts";

/** How the engine's run ended, and what settle records with the move that follows it. */
export interface Ran {
  readonly outcome: Outcome;
  /** The meta as the move to building left it (its worktree and wip). */
  readonly meta: JobMeta;
  /** The engine record goes; what the agent reported about its session stays. */
  readonly finished: (meta: JobMeta) => JobMeta;
}

/**
 * Moves the planned job to building and runs its engine in a process group of its own, watched
 * by a person's cancel request, the runner's stop-now signal, `building` taps, the timeout and
 * the stall limit; answers how it ended, without moving the job again.
 */
export async function runJob(ctx: JobContext, plan: Plan, progress: JobProgress): Promise<Ran> {
  const { lifecycle, config, logger, by } = ctx;
  const { store } = lifecycle;
  const { id } = progress;
  const { spec, engine, engineName } = plan;
  // What an earlier attempt's agent reported is not this attempt's.
  // The engine is on record (by its mark) before it can start; its process group is added once it has one.
  const engineStart = { name: engineName, startedAt: new Date().toISOString() };
  const meta = await lifecycle.move(id, "assigned", "building", {
    by,
    patch: (m) => ({ ...plan.patch(m), agent: undefined, engine: engineStart }),
  });
  progress.stage = "building";
  const dir = store.jobDir("building", id);
  const promptFile = join(dir, "prompt.txt");
  // Replaced by a rename: a link planted as prompt.txt is replaced, its target never written.
  // Written again before every attempt, so it needs no fsync.
  await writeFileAtomic(promptFile, spec.body, { durable: false });
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
  const stopCancelWatch = watchCancelRequest(dir, (request) => abort.abort(cancelledBy(request)));
  const onCancel = () => abort.abort(SHUTDOWN);
  if (ctx.cancel.aborted) onCancel();
  ctx.cancel.addEventListener("abort", onCancel, { once: true });
  const buildEnd = new AbortController();
  ctx.hooks.building.call({
    jobId: id,
    meta,
    signal: buildEnd.signal,
    abort: (error) => abort.abort(abortedByPlugin(error)),
  });

  const agent = watchAgent({ store, id, engine: engineName, format: engine.output, jobDir: dir });
  let recorded: Promise<unknown> = Promise.resolve();
  const timeoutMs = spec.timeout ?? config.defaults.timeoutMs;
  const stallMs = spec.stall ?? config.defaults.stallMs;
  logger.info(`${id}: building with ${engineName}${plan.inRepo ? ` on ${meta.wip?.branch}` : ""}`);
  const result = await runInGroup({
    file: call.file,
    args: call.args,
    cwd: plan.workDir,
    env: engineEnv(process.env, {
      ...call.env,
      AQ_JOB_ID: id,
      AQ_STAGE: "building",
      AQ_QUEUE_DIR: store.root,
      [ENGINE_MARK_ENV]: plan.mark,
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
      // Needs no fsync: after a power loss no engine is left to find by its process group.
      recorded = store
        .update(id, "building", (m) => ({ ...m, engine: engineRef }), { durable: false })
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
  const finished = (m: JobMeta): JobMeta => ({ ...withoutEngine(m), agent: agent.snapshot() });
  ctx.cancel.removeEventListener("abort", onCancel);
  await recorded;

  let outcome = outcomeOf(result, blocked, { engineName, file: call.file, timeoutMs, stallMs: stallMs ?? 0 });
  // Work is only taken from the branch aq made for it: an agent that left it is not followed.
  if (outcome.kind === "done" && meta.worktree && meta.wip) {
    const astray = await backOnBranch(meta.worktree.path, meta.wip.branch);
    if (astray) outcome = { kind: "astray", reason: astray };
  }
  return { outcome, meta, finished };
}

/** The first that holds, in this order: an abort, a failed start, the timeout, a stall, blocked, the exit code. */
function outcomeOf(
  result: GroupResult,
  blocked: string | undefined,
  facts: { engineName: string; file: string; timeoutMs: number; stallMs: number },
): Outcome {
  if (result.aborted) return abortReasonOf(result.aborted);
  if (result.spawnError) return { kind: "spawn-failed", error: result.spawnError, ...facts };
  if (result.timedOut) return { kind: "timeout", afterMs: facts.timeoutMs };
  if (result.stalled) return { kind: "stalled", afterMs: facts.stallMs };
  if (blocked !== undefined || result.exitCode === BLOCKED_EXIT_CODE)
    return { kind: "blocked", reason: blocked ?? `engine exited ${BLOCKED_EXIT_CODE} (blocked)` };
  if (result.exitCode !== 0) return { kind: "exited", code: result.exitCode, signal: result.signal };
  return { kind: "done", durationMs: result.durationMs };
}
