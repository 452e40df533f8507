import { FileLock, withLock } from "./locks.ts";
import type { ProcessRef } from "./meta.ts";
import type { JobRecord, QueueStore } from "./queue-store.ts";
import { AqError } from "./errors.ts";

export interface Claimed {
  readonly record: JobRecord;
  /** The job's named lock, held until the job leaves building. */
  readonly lock: FileLock | undefined;
}

export interface ClaimResult {
  readonly claimed: Claimed | undefined;
  /** Queued jobs that are not claimable yet (backoff, or their named lock is held). */
  readonly waiting: number;
  /** The earliest time a backoff ends, if any job waits on one. */
  readonly nextAt: number | undefined;
  readonly adopted: readonly string[];
  readonly rejected: ReadonlyArray<{ id: string; problem: string }>;
}

export const CLAIM_LOCK = "claim";
export const jobLockName = (name: string) => `job.${name}`;

/**
 * Claims the best queued job: highest priority first, then the oldest. Runs under the queue's
 * claim lock (so recovery never mistakes a claim in progress for an orphan); the claim itself
 * is the rename queued/ → assigned/, which only one process can win.
 */
export async function claimNext(store: QueueStore, claimer: { by: string; owner: ProcessRef }): Promise<ClaimResult> {
  return withLock(store.lockPath(CLAIM_LOCK), async () => {
    const first = await store.list(["queued"]);
    const { adopted, rejected } = await store.adopt(claimer.by, { directories: first.broken.map((job) => job.id) });
    const { jobs } = adopted.length || first.broken.length ? await store.list(["queued"]) : first;
    const now = Date.now();
    jobs.sort((a, b) => b.meta.priority - a.meta.priority || a.meta.createdAt.localeCompare(b.meta.createdAt) || a.id.localeCompare(b.id));
    let waiting = 0;
    let nextAt: number | undefined;
    for (const job of jobs) {
      const notBefore = job.meta.notBefore ? Date.parse(job.meta.notBefore) : 0;
      if (notBefore > now) {
        waiting++;
        nextAt = Math.min(nextAt ?? notBefore, notBefore);
        continue;
      }
      const lock = job.meta.lock ? await FileLock.tryAcquire(store.lockPath(jobLockName(job.meta.lock)), job.id) : undefined;
      if (job.meta.lock && !lock) {
        waiting++;
        continue;
      }
      try {
        const { after } = await store.move(job.id, "queued", "assigned", {
          by: claimer.by,
          patch: (meta) => {
            const { notBefore: _, ...rest } = meta;
            return { ...rest, attempts: meta.attempts + 1, owner: claimer.owner };
          },
        });
        return { claimed: { record: { ...job, stage: "assigned", dir: store.jobDir("assigned", job.id), meta: after }, lock }, waiting, nextAt, adopted, rejected };
      } catch (error) {
        await lock?.release();
        if (error instanceof AqError && (error.code === "AQ_CONFLICT" || error.code === "AQ_NOT_FOUND")) continue;
        throw error;
      }
    }
    return { claimed: undefined, waiting, nextAt, adopted, rejected };
  }, claimer.by);
}
