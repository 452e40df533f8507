import { AqError, oneLine } from "./errors.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { Logger } from "./logger.ts";
import { type JobMeta, withoutEngine } from "./meta.ts";
import { killGroup } from "./process-group.ts";
import { groupAlive, isAlive, processStartTime } from "./process-ref.ts";
import { processesWithEnv } from "./proc-scan.ts";
import { IN_FLIGHT } from "./stages.ts";
import { sweepQueue } from "./repair.ts";

export const ENGINE_MARK_ENV = "AQ_ENGINE_MARK";

export interface RecoverOptions {
  readonly by: string;
  readonly killGraceMs: number;
  readonly maxAttemptsOf: (meta: JobMeta, dir: string) => Promise<number>;
}

export interface Recovery {
  readonly recovered: string[];
  /** One line per job that could not be recovered (the runner then exits non-zero). */
  readonly problems: string[];
}

/**
 * Finishes what dead runners left: transitions half made (settled), a failed job whose requeue
 * or dead-lettering never happened (made now, its attempts kept), and jobs in assigned/ or
 * building/ whose runner is gone (its pid gone, or reused by another process). Those go back
 * through failure handling, requeued with the attempt counted or dead-lettered, after every
 * process of theirs is ended: only processes that carry the attempt's mark, or a group whose
 * leader's recorded start time matches, are signalled. Takes no queue-wide lock: each step is
 * one job's move, and of two runners recovering one job one wins, the other finds it moved.
 */
export async function recoverOrphans(
  lifecycle: Lifecycle,
  logger: Logger,
  options: RecoverOptions & { sweep?: boolean },
): Promise<Recovery> {
  const { store } = lifecycle;
  const recovered: string[] = [];
  const problems: string[] = [];
  if (options.sweep) await sweepQueue(store);
  const failed = await store.list(["failed"]);
  for (const job of failed.jobs) {
    if (!job.meta.requeue) continue;
    try {
      const stage = await lifecycle.requeue(job.id, job.meta.requeue, options.by);
      logger.warn(`${job.id}: a runner died between failed and ${stage}; completed → ${stage}`);
      recovered.push(job.id);
    } catch (error) {
      if (!moved(error)) problems.push(`${job.id}: recovery failed: ${oneLine(error)}`);
    }
  }
  const { jobs, broken } = await store.list(IN_FLIGHT);
  for (const job of broken) logger.warn(`${job.id}: cannot be recovered from ${job.stage}/: ${job.problem}`);
  for (const listed of jobs) {
    if (listed.meta.owner && isAlive(listed.meta.owner)) continue;
    const fresh = await store.read(listed.stage, listed.id).catch(() => undefined);
    if (!fresh || (fresh.meta.owner && isAlive(fresh.meta.owner))) continue;
    const job = fresh;
    const who = job.meta.owner ? `runner ${job.meta.owner.pid}` : "a runner";
    try {
      const left = await endLeftovers(job.meta, options.killGraceMs, (line) =>
        logger.warn(`${job.id}: ${line}, left by ${who}`),
      );
      if (left) {
        problems.push(`${job.id}: not requeued: ${left}`);
        continue;
      }
      const reason = `${who} died while the job was ${job.stage}`;
      const stage = await lifecycle.fail(job, reason, {
        by: options.by,
        retryable: true,
        maxAttempts: await options.maxAttemptsOf(job.meta, job.dir),
        backoff: { backoffMs: 0, maxBackoffMs: 0 }, // a crash is not the job's fault: retry at once
        patch: (m) => {
          const { owner: _, ...kept } = withoutEngine(m);
          return kept;
        },
      });
      logger.warn(`${job.id}: recovered (${reason}) → ${stage}`);
      recovered.push(job.id);
    } catch (error) {
      if (!moved(error)) problems.push(`${job.id}: recovery failed: ${oneLine(error)}`);
    }
  }
  for (const problem of problems) logger.error(problem);
  return { recovered, problems };
}

/** Another runner moved the job first: nothing is left to do. */
function moved(error: unknown): boolean {
  return error instanceof AqError && (error.code === "AQ_CONFLICT" || error.code === "AQ_NOT_FOUND");
}

/**
 * Ends every process of the job's attempt that still runs. Answers a reason when one may still
 * run (then the job must not start again), undefined when none does.
 */
async function endLeftovers(meta: JobMeta, graceMs: number, say: (line: string) => void): Promise<string | undefined> {
  const groups = new Set<number>();
  if (meta.mark) for (const process of processesWithEnv(ENGINE_MARK_ENV, meta.mark)) groups.add(process.pgid);
  const engine = meta.engine;
  // A group recorded by an aq without marks is ours only if its leader is the process that was recorded.
  if (
    engine?.pgid !== undefined &&
    engine.startTime !== undefined &&
    processStartTime(engine.pgid) === engine.startTime
  )
    groups.add(engine.pgid);
  if (engine?.pgid !== undefined && !groups.has(engine.pgid) && groupAlive(engine.pgid) && !meta.mark) {
    say(`process group ${engine.pgid} is not provably its engine (no start time or mark matches): not signalled`);
  }
  for (const pgid of groups) {
    say(`ending the engine (process group ${pgid})`);
    await killGroup(pgid, graceMs);
  }
  if (meta.mark && processesWithEnv(ENGINE_MARK_ENV, meta.mark).length > 0)
    return "a process of its last attempt still runs after SIGKILL";
  return undefined;
}
