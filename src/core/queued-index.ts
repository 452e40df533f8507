import { type BigIntStats, statSync, utimesSync } from "node:fs";
import type { JobMeta } from "./meta.ts";
import type { Stage } from "./stages.ts";
import { localeOrder } from "./locale-order.ts";

/** A job as the queue lists it (queue-store.ts). */
export interface IndexedJob {
  readonly id: string;
  readonly stage: Stage;
  readonly dir: string;
  readonly meta: JobMeta;
}

export interface QueuedListing<J extends IndexedJob, B> {
  /** In claim order: highest priority first, then the oldest, then by id. */
  readonly jobs: readonly J[];
  readonly broken: readonly B[];
  /** The last full reading saw something adoption must look at (a dropped file, a link, a misnamed directory). */
  readonly strays: boolean;
  /** Read from the directory by this call (not the kept listing). */
  readonly justRead: boolean;
  /** As read from the directory, with no rename of this process's applied since (an empty one is truly empty). */
  readonly asRead: boolean;
}

/**
 * How long a listing kept up to date by this process's own moves is trusted without reading the
 * directory again. It bounds how long a change another process makes in the same instant as one of
 * ours, and that leaves the entry count unchanged (a file dropped in, an in-place meta rewrite),
 * can go unseen; a claim that finds nothing to claim always reads the directory first.
 */
export const QUEUED_INDEX_TRUST_MS = 10_000;

interface Stamp {
  /** Inode, mtime and ctime in nanoseconds: any entry added, removed or renamed, or a touch, changes it. */
  readonly key: string;
  /** Subdirectories + 2: a job directory added or removed changes it by one. */
  readonly nlink: bigint;
}

const byClaimOrder = (a: IndexedJob, b: IndexedJob) =>
  b.meta.priority - a.meta.priority || localeOrder(a.meta.createdAt, b.meta.createdAt) || localeOrder(a.id, b.id);

/**
 * queued/ as this process last read it, so that a claim does not read and stat every queued job.
 * The directories on disk stay the truth: the listing is used only while queued/'s inode, mtime,
 * ctime and link count are the ones it was read at, or changed exactly as this process's own
 * rename changed them; anything else reads the directory again. A stale listing can make a claim
 * try a job that is gone (the rename fails and the claim goes on) or order jobs as they were a
 * moment ago; the claim checks its job's fresh meta against the listing before it moves it.
 */
export class QueuedIndex<J extends IndexedJob, B> {
  private stamp: Stamp | undefined;
  private readAt = 0;
  private listing: { jobs: J[]; broken: B[]; strays: boolean } | undefined;
  private asRead = false;

  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The listing, read again with `read` if queued/ changed in a way this process did not make. */
  async get(
    read: () => Promise<{ jobs: J[]; broken: B[]; strays: boolean }>,
    options: { fresh?: boolean } = {},
  ): Promise<QueuedListing<J, B>> {
    const now = stampOf(this.dir);
    if (
      !options.fresh &&
      this.listing &&
      now &&
      this.stamp?.key === now.key &&
      this.stamp.nlink === now.nlink &&
      Date.now() - this.readAt < QUEUED_INDEX_TRUST_MS
    )
      return { ...this.listing, justRead: false, asRead: this.asRead };
    const listing = await read();
    listing.jobs.sort(byClaimOrder);
    this.listing = listing;
    // The stamp taken before the reading: a change during it makes the next call read again.
    this.stamp = now;
    this.readAt = Date.now();
    this.asRead = true;
    return { ...listing, justRead: true, asRead: true };
  }

  /** Forgets the listing: the next call reads queued/ again. */
  invalidate(): void {
    this.listing = undefined;
    this.stamp = undefined;
  }

  /**
   * Runs `rename`, one job directory into or out of queued/, and keeps the listing if nothing but
   * that rename changed queued/ meanwhile. `added` is the job now in queued/, if it came in.
   */
  async renamed<T>(change: { removed?: string; added?: () => J }, rename: () => Promise<T>): Promise<T> {
    const before = this.listing ? stampOf(this.dir) : undefined;
    const result = await rename();
    const after = before ? stampOf(this.dir) : undefined;
    const delta = change.added ? 1n : -1n;
    const kept =
      this.listing &&
      before &&
      after &&
      this.stamp?.key === before.key &&
      this.stamp.nlink === before.nlink &&
      after.nlink === before.nlink + delta;
    if (!kept || !this.listing || !after) {
      this.invalidate();
      return result;
    }
    const jobs = this.listing.jobs;
    if (change.removed !== undefined) {
      const at = jobs.findIndex((job) => job.id === change.removed);
      if (at >= 0) jobs.splice(at, 1);
    }
    if (change.added) {
      const job = change.added();
      let low = 0;
      let high = jobs.length;
      while (low < high) {
        const mid = (low + high) >>> 1;
        if (byClaimOrder(jobs[mid]!, job) <= 0) low = mid + 1;
        else high = mid;
      }
      jobs.splice(low, 0, job);
    }
    this.stamp = after;
    this.asRead = false;
    return result;
  }

  /**
   * A queued job's meta was rewritten in place: this listing is dropped, and queued/ is touched so
   * that every other process's listing is too (a rewrite inside a job's directory does not change
   * queued/ itself).
   */
  touched(): void {
    this.invalidate();
    const now = new Date();
    try {
      utimesSync(this.dir, now, now);
    } catch {
      // queued/ gone: nothing lists it
    }
  }
}

function stampOf(dir: string): Stamp | undefined {
  let stat: BigIntStats | undefined;
  try {
    stat = statSync(dir, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
  if (!stat) return undefined;
  return { key: `${stat.ino}:${stat.mtimeNs}:${stat.ctimeNs}`, nlink: stat.nlink };
}
