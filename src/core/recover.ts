import { withLock } from "./locks.ts";
import { CLAIM_LOCK } from "./claim.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { Logger } from "./logger.ts";
import { groupAlive, isAlive, processStartTime } from "./process-ref.ts";
import { killGroup } from "./process-group.ts";
import { IN_FLIGHT } from "./stages.ts";
import { type JobMeta, withoutEngine } from "./meta.ts";
import { oneLine } from "./errors.ts";

export interface RecoverOptions {
  readonly by: string;
  readonly killGraceMs: number;
  readonly maxAttemptsOf: (meta: JobMeta, dir: string) => Promise<number>;
}

/**
 * Finds jobs a dead runner left in assigned/ or building/ (its pid gone, or reused by another
 * process) and sends them back through failure handling: requeued with the attempt counted, or
 * dead-lettered. An engine the dead runner left running is ended first, so a job never runs
 * twice at once. Runs under the claim lock, where no claim can be half done.
 */
export async function recoverOrphans(lifecycle: Lifecycle, logger: Logger, options: RecoverOptions): Promise<string[]> {
  const { store } = lifecycle;
  return withLock(store.lockPath(CLAIM_LOCK), async () => {
    const recovered: string[] = [];
    const { jobs, broken } = await store.list(IN_FLIGHT);
    for (const job of broken) logger.warn(`${job.id}: cannot be recovered from ${job.stage}/: ${job.problem}`);
    for (const job of jobs) {
      if (job.meta.owner && isAlive(job.meta.owner)) continue;
      const who = job.meta.owner ? `runner ${job.meta.owner.pid}` : "a runner";
      if (job.meta.engine && orphanEngineRuns(job.meta.engine)) {
        logger.warn(`${job.id}: ending the engine (process group ${job.meta.engine.pgid}) that ${who} left running`);
        await killGroup(job.meta.engine.pgid, options.killGraceMs);
      }
      const reason = `${who} died while the job was ${job.stage}`;
      try {
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
        logger.error(`${job.id}: recovery failed: ${oneLine(error)}`);
      }
    }
    return recovered;
  }, options.by);
}

/** The group still runs, and its leader, if alive, is the process that was recorded (not a reused pid). */
function orphanEngineRuns(engine: NonNullable<JobMeta["engine"]>): boolean {
  if (!groupAlive(engine.pgid)) return false;
  const now = processStartTime(engine.pgid);
  return now === undefined || engine.startTime === undefined || now === engine.startTime;
}
