import { crashPoint } from "./crash-point.ts";
import { formatDuration } from "./duration.ts";
import { FencedError, oneLine } from "./errors.ts";
import type { RunnerHooks, StageEvent } from "./hooks.ts";
import type { Logger } from "./logger.ts";
import { type JobMeta, withoutEngine } from "./meta.ts";
import type { JobRecord, MoveOptions, QueueStore } from "./queue-store.ts";
import { STAGES, type Stage } from "./stages.ts";

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
 * A FencedError thrown by an onStage tap propagates to the caller, after the move.
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

  async move(id: string, from: Stage, to: Stage, options: MoveOptions & { comesToRest?: boolean }): Promise<JobMeta> {
    const { after } = await this.store.move(id, from, to, options);
    this.logger.debug(`${id}: ${from} → ${to}${options.reason ? ` (${options.reason})` : ""}`);
    await this.announce(
      { jobId: id, from, to, reason: options.reason, by: options.by, meta: after },
      options.comesToRest ?? STAGES[to].terminal,
    );
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
        reason: "fenced",
        patch: (m) => {
          const events = Array.isArray(m.events) ? m.events : [];
          return {
            ...withoutEngine(m),
            events: [...events, { type: "fenced-abort", at: new Date().toISOString(), detail: error.message }],
          };
        },
      });
    } catch (inner) {
      if (!(inner instanceof FencedError)) this.logger.error(`${id}: could not record the fence: ${oneLine(inner)}`);
    }
    return "failed";
  }
}
