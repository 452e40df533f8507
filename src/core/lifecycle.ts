import { crashPoint } from "./crash-point.ts";
import { formatDuration } from "./duration.ts";
import { FencedError, JobFenced, oneLine } from "./errors.ts";
import type { RunnerHooks, StageEvent } from "./hooks.ts";
import type { Logger } from "./logger.ts";
import { type JobMeta, withoutEngine } from "./meta.ts";
import type { JobRecord, MoveOptions, QueueStore } from "./queue-store.ts";
import { canMove, IN_FLIGHT, STAGES, type Stage } from "./stages.ts";

/** The reason of a job failed by a fence. */
export const FENCED = "fenced";

export interface FailOptions {
  readonly by: string;
  /** Transient failures (exit codes, timeouts, crashes) are retried; a bad job file is not. */
  readonly retryable: boolean;
  readonly maxAttempts: number;
  readonly backoff: { backoffMs: number; maxBackoffMs: number };
  readonly patch?: (meta: JobMeta) => JobMeta;
}

/**
 * Every transition goes through here: the store moves the directory, then the hooks hear of it.
 * A FencedError thrown by an onStage tap is applied here (the job fails as fenced) and the caller
 * gets a JobFenced.
 */
export class Lifecycle {
  readonly store: QueueStore;
  readonly hooks: RunnerHooks;
  readonly logger: Logger;

  constructor(store: QueueStore, hooks: RunnerHooks, logger: Logger) {
    this.store = store;
    this.hooks = hooks;
    this.logger = logger;
  }

  /**
   * Moves a job and tells the hooks. A FencedError from a tap is applied here, the one place that
   * decides what a fence does (see fence()), and the caller gets a JobFenced: the job is in failed.
   */
  async move(id: string, from: Stage, to: Stage, options: MoveOptions & { comesToRest?: boolean }): Promise<JobMeta> {
    const { after } = await this.store.move(id, from, to, options);
    this.logger.debug(`${id}: ${from} → ${to}${options.reason ? ` (${options.reason})` : ""}`);
    try {
      await this.announce(
        { jobId: id, from, to, reason: options.reason, by: options.by, meta: after },
        options.comesToRest ?? STAGES[to].terminal,
      );
    } catch (error) {
      if (!(error instanceof FencedError) || options.reason === FENCED) throw error;
      await this.fence(id, error, options.by);
      throw new JobFenced(id, error.message);
    }
    return after;
  }

  /** Tells the hooks of a move made under another lock (the claim). */
  async announceMove(record: JobRecord, from: Stage, by: string): Promise<void> {
    await this.announce(
      { jobId: record.id, from, to: record.stage, reason: record.meta.reason, by, meta: record.meta },
      STAGES[record.stage].terminal,
    );
  }

  /** Tells the hooks of a job that was just created (from: null). */
  async created(record: JobRecord, by: string): Promise<void> {
    const entry = record.meta.history.at(-1);
    await this.announce(
      {
        jobId: record.id,
        from: entry?.from ?? null,
        to: record.stage,
        reason: record.meta.reason,
        by,
        meta: record.meta,
      },
      STAGES[record.stage].terminal,
    );
  }

  private async announce(event: StageEvent, comesToRest: boolean): Promise<void> {
    await this.hooks.onStage.promise(event);
    if (comesToRest) await this.hooks.onTerminal.promise(event);
  }

  /**
   * Fails a job: a retryable failure with attempts left goes back to queued after a backoff
   * (doubling, capped); one with none left goes to dead_letter; any other stays in failed.
   */
  async fail(record: { id: string; stage: Stage }, reason: string, options: FailOptions): Promise<Stage> {
    const meta = (await this.store.read(record.stage, record.id)).meta;
    const attemptsLeft = meta.attempts < options.maxAttempts;
    const retry = options.retryable && attemptsLeft;
    const delay = Math.min(
      options.backoff.backoffMs * 2 ** Math.max(0, meta.attempts - 1),
      options.backoff.maxBackoffMs,
    );
    // The step after failed/ travels with the move into it, so a crash in between is completed by recovery.
    // The backoff runs from the failure as recorded (its history entry), however long the move took to get there.
    const requeueAfter = (failedAt: number): JobMeta["requeue"] =>
      !options.retryable
        ? undefined
        : retry
          ? {
              to: "queued",
              reason: `retry ${meta.attempts + 1} of ${options.maxAttempts} in ${formatDuration(delay)}`,
              notBefore: new Date(failedAt + delay).toISOString(),
            }
          : {
              to: "dead_letter",
              reason: `${meta.attempts} of ${options.maxAttempts} attempts failed; last: ${reason}`,
            };
    let requeue = requeueAfter(Date.now());
    const patch = options.patch;
    await this.move(record.id, record.stage, "failed", {
      by: options.by,
      reason,
      patch: (m) => {
        const failedAt = Date.parse(m.history.at(-1)?.at ?? "");
        requeue = requeueAfter(Number.isNaN(failedAt) ? Date.now() : failedAt);
        return { ...(patch ? patch(m) : m), ...(requeue ? { requeue } : {}) };
      },
      comesToRest: !options.retryable,
    });
    if (!requeue) {
      this.logger.warn(`${record.id}: failed: ${reason}`);
      return "failed";
    }
    crashPoint("fail:before-requeue");
    if (requeue.to === "dead_letter")
      this.logger.warn(`${record.id}: failed (${reason}); no attempts left → dead_letter`);
    else this.logger.warn(`${record.id}: failed (${reason}); ${requeue.reason}`);
    return this.requeue(record.id, requeue, options.by);
  }

  /** Makes the step a failed job's meta says comes next (recovery calls it for a crash in between). */
  async requeue(id: string, next: NonNullable<JobMeta["requeue"]>, by: string): Promise<Stage> {
    await this.move(id, "failed", next.to, {
      by,
      reason: next.reason,
      patch: (m) => {
        const { requeue: _, ...rest } = m;
        return next.notBefore ? { ...rest, notBefore: next.notBefore } : rest;
      },
    });
    return next.to;
  }

  /**
   * A stopped job goes back to queued, unless a plugin answers (onCancel) that it rests elsewhere:
   * then it moves there at once, in one transition, and the stage returned is where it rests.
   */
  async putBack(id: string, from: Stage, options: MoveOptions & { reason: string }): Promise<Stage> {
    const before = (await this.store.read(from, id)).meta;
    const meta = options.patch ? options.patch(before) : before;
    const park = await this.hooks.onCancel.promise({ jobId: id, meta, reason: options.reason });
    const to = park?.to ?? "queued";
    await this.move(id, from, to, { ...options, reason: park?.reason ?? options.reason });
    return to;
  }

  /**
   * Makes the moves plugins asked for (parkJobs). A job that is running, already there, gone,
   * or cannot move there is left alone. Returns the ids moved.
   */
  async applyParks(by: string): Promise<string[]> {
    const requests = await this.hooks.parkJobs.promise([]);
    const moved: string[] = [];
    for (const { jobId, to, reason } of requests) {
      const stage = await this.store.locate(jobId).catch(() => undefined);
      if (!stage || stage === to || IN_FLIGHT.includes(stage) || !canMove(stage, to)) continue;
      try {
        await this.move(jobId, stage, to, { by, reason });
        this.logger.warn(`${jobId}: ${to === "quarantine" ? "quarantined" : "blocked"}: ${reason}`);
        moved.push(jobId);
      } catch (error) {
        this.logger.error(`${jobId}: could not move to ${to}: ${oneLine(error)}`);
      }
    }
    return moved;
  }

  /**
   * Another factory owns the job now: the engine was stopped (or never started), nothing is
   * shipped, and the job rests in failed with reason `fenced` and a `fenced-abort` event.
   */
  async fence(id: string, error: FencedError, by: string): Promise<Stage> {
    this.logger.warn(`${id}: fenced-abort: ${error.message}; the engine was stopped and nothing will be shipped`);
    const stage = await this.store.locate(id);
    if (!stage || stage === "failed") return stage ?? "failed";
    try {
      await this.move(id, stage, "failed", {
        by,
        reason: FENCED,
        patch: (m) => {
          return {
            ...withoutEngine(m),
            events: [
              ...(m.events ?? []),
              { type: "fenced-abort", at: new Date().toISOString(), detail: error.message },
            ],
          };
        },
      });
    } catch (inner) {
      if (!(inner instanceof FencedError)) this.logger.error(`${id}: could not record the fence: ${oneLine(inner)}`);
    }
    return "failed";
  }
}
