import { randomBytes } from "node:crypto";
import { adoptDropped } from "./adopt.ts";
import { FileLock, withLock } from "./locks.ts";
import type { ProcessRef } from "./meta.ts";
import { linkedFiles, linkProblem } from "./queue-file.ts";
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

/** A new mark for an attempt: every process aq starts for it carries it (see recover.ts). */
export const newMark = (id: string) => `${id}.${randomBytes(8).toString("hex")}`;

/**
 * Claims the best queued job: highest priority first, then the oldest. What was dropped into
 * queued/ is adopted first, outside any queue-wide lock (adoption parses job files); the claim
 * itself runs under the queue's claim lock and is the rename queued/ → assigned/ with the new
 * owner, attempt count and mark in the same step, which only one process can win.
 */
export async function claimNext(store: QueueStore, claimer: { by: string; owner: ProcessRef }): Promise<ClaimResult> {
  const first = await store.queued();
  // queued/ read empty and unchanged since: nothing to claim, and no claim lock to take (an idle poll).
  if (first.asRead && !first.justRead && first.jobs.length === 0 && !first.strays)
    return { claimed: undefined, waiting: 0, nextAt: undefined, adopted: [], rejected: [] };
  const { adopted, rejected } = first.strays
    ? await adoptDropped(store, claimer.by, { directories: first.broken.map((job) => job.id) })
    : { adopted: [], rejected: [] };
  return withLock(
    store.lockPath(CLAIM_LOCK),
    async () => {
      const refused: Array<{ id: string; problem: string }> = [];
      const answer = (outcome: Omit<ClaimResult, "adopted" | "rejected">): ClaimResult => ({
        ...outcome,
        adopted,
        rejected: [...rejected, ...refused],
      });
      // The kept listing first; queued/ read again before answering that nothing can be claimed.
      const kept = await store.queued();
      let outcome = await claimFrom(store, kept, claimer, refused, kept.justRead);
      if (outcome === "stale") store.forgetQueued();
      if (outcome === "stale" || (!outcome.claimed && !kept.justRead))
        outcome = await claimFrom(store, await store.queued({ fresh: true }), claimer, refused, true);
      if (outcome === "stale") throw new Error("unreachable: a fresh listing is never stale");
      return answer(outcome);
    },
    claimer.by,
  );
}

/** Thrown from a claim's patch: the job's meta on disk is not the one the listing ordered it by. */
class StaleListing extends Error {}

async function claimFrom(
  store: QueueStore,
  listing: { jobs: readonly JobRecord[] },
  claimer: { by: string; owner: ProcessRef },
  refused: Array<{ id: string; problem: string }>,
  last = false,
): Promise<Omit<ClaimResult, "adopted" | "rejected"> | "stale"> {
  const now = Date.now();
  let waiting = 0;
  let nextAt: number | undefined;
  // A copy: each move out of queued/ takes its job out of the kept listing.
  for (const job of [...listing.jobs]) {
    const notBefore = job.meta.notBefore ? Date.parse(job.meta.notBefore) : 0;
    if (notBefore > now) {
      waiting++;
      nextAt = Math.min(nextAt ?? notBefore, notBefore);
      continue;
    }
    const links = linkedFiles(job.dir);
    if (links.length) {
      const problem = linkProblem(links);
      await store.move(job.id, "queued", "failed", { by: claimer.by, reason: problem }).then(
        () => refused.push({ id: job.id, problem }),
        () => {},
      );
      continue;
    }
    const lock = job.meta.lock
      ? await FileLock.tryAcquire(store.lockPath(jobLockName(job.meta.lock)), job.id)
      : undefined;
    if (job.meta.lock && !lock) {
      waiting++;
      continue;
    }
    try {
      const { after } = await store.move(job.id, "queued", "assigned", {
        by: claimer.by,
        patch: (meta) => {
          if (
            meta.priority !== job.meta.priority ||
            meta.lock !== job.meta.lock ||
            meta.notBefore !== job.meta.notBefore
          )
            throw new StaleListing(job.id);
          const { notBefore: _, ...rest } = meta;
          return { ...rest, attempts: meta.attempts + 1, owner: claimer.owner, mark: newMark(job.id) };
        },
      });
      return {
        claimed: { record: { ...job, stage: "assigned", dir: store.jobDir("assigned", job.id), meta: after }, lock },
        waiting,
        nextAt,
      };
    } catch (error) {
      await lock?.release();
      if (error instanceof StaleListing) {
        if (last) continue;
        return "stale";
      }
      if (error instanceof AqError && (error.code === "AQ_CONFLICT" || error.code === "AQ_NOT_FOUND")) continue;
      throw error;
    }
  }
  return { claimed: undefined, waiting, nextAt };
}
