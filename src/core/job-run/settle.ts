import { formatDuration } from "../duration.ts";
import { AqError, FencedError, JobFenced, oneLine } from "../errors.ts";
import type { JobMeta } from "../meta.ts";
import type { Stage } from "../stages.ts";
import { commitAll } from "../worktree.ts";
import type { AbortReason } from "./abort.ts";
import type { JobContext, JobProgress } from "./context.ts";
import { describeExit } from "./exit.ts";
import type { Unplannable } from "./plan.ts";
import type { Ran } from "./run.ts";

/** Every way an attempt can end: the plan refused it, the engine was stopped, or the engine exited. */
export type Outcome =
  | Unplannable
  | AbortReason
  | {
      readonly kind: "spawn-failed";
      readonly error: NodeJS.ErrnoException;
      readonly engineName: string;
      readonly file: string;
    }
  | { readonly kind: "blocked"; readonly reason: string }
  | { readonly kind: "exited"; readonly code: number | null; readonly signal: NodeJS.Signals | null }
  /** Exited 0, but the worktree is no longer on the job's branch. */
  | { readonly kind: "astray"; readonly reason: string }
  | { readonly kind: "done"; readonly durationMs: number }
  /** Something threw while the job was in assigned/ or building/. */
  | { readonly kind: "crashed"; readonly error: unknown };

/** Where an outcome sends the job. */
export type Settlement =
  /** Retryable failures go back to queued after a backoff while attempts are left, then to dead_letter. */
  | { readonly to: "failed"; readonly reason: string; readonly retryable: boolean }
  /** The work so far is committed as a checkpoint and the attempt does not count. */
  | { readonly to: "queued"; readonly reason: string }
  | { readonly to: "blocked"; readonly reason: string }
  /** The work is committed on the job's branch for `aq promote`. */
  | { readonly to: "review" }
  /** Another factory owns the job: failed with reason `fenced`, nothing shipped. */
  | { readonly to: "fenced"; readonly error: FencedError };

type Table = { readonly [K in Outcome["kind"]]: (outcome: Extract<Outcome, { kind: K }>) => Settlement };

const failed = (reason: string, retryable: boolean): Settlement => ({ to: "failed", reason, retryable });

/** The whole of what an attempt's end means, one row per outcome. */
export const SETTLEMENTS: Table = {
  unplannable: (o) => failed(o.reason, o.retryable),
  fenced: (o) => ({ to: "fenced", error: o.error }),
  cancelled: (o) => (o.request.to === "failed" ? failed(o.message, false) : { to: "queued", reason: o.message }),
  shutdown: () => ({ to: "queued", reason: "cancelled: the runner was stopped; the attempt does not count" }),
  plugin: (o) => failed(`aborted: ${oneLine(o.error)}`, true),
  "spawn-failed": (o) =>
    o.error.code === "ENOENT"
      ? failed(`engine "${o.engineName}" is not installed: command "${o.file}" not found on PATH`, false)
      : failed(`engine "${o.engineName}" could not start: ${oneLine(o.error)}`, true),
  timeout: (o) => failed(`timeout: killed after ${formatDuration(o.afterMs)}`, true),
  stalled: (o) => failed(`stalled: no agent activity for ${formatDuration(o.afterMs)}`, true),
  blocked: (o) => ({ to: "blocked", reason: o.reason }),
  exited: (o) => failed(`engine ${describeExit(o.code, o.signal)}`, true),
  astray: (o) => failed(o.reason, false),
  done: () => ({ to: "review" }),
  crashed: (o) => failed(o.error instanceof AqError ? oneLine(o.error) : `internal error: ${oneLine(o.error)}`, true),
};

export function settlementOf(outcome: Outcome): Settlement {
  return (SETTLEMENTS[outcome.kind] as (outcome: Outcome) => Settlement)(outcome);
}

/** Makes the move an outcome calls for, from the stage the job is in now; answers where it rests. */
export async function settle(
  ctx: JobContext,
  progress: JobProgress,
  outcome: Outcome,
  ran?: Omit<Ran, "outcome">,
): Promise<Stage> {
  const { lifecycle, config, logger, by } = ctx;
  const { id } = progress;
  const settlement = settlementOf(outcome);
  switch (settlement.to) {
    case "fenced":
      return lifecycle.fence(id, settlement.error, by);
    case "failed":
      return (progress.stage = await lifecycle.fail({ id, stage: progress.stage }, settlement.reason, {
        by,
        retryable: settlement.retryable,
        maxAttempts: progress.maxAttempts,
        backoff: config.retry,
        ...(ran ? { patch: ran.finished } : {}),
      }));
    case "queued": {
      const meta = ran?.meta;
      // What the engine did so far is committed: the checkpoint a resume starts from.
      const wip =
        meta?.worktree && meta.wip
          ? {
              branch: meta.wip.branch,
              commit: await commitAll(
                meta.worktree.path,
                `aq: ${id}: checkpoint (cancelled)`,
                ctx.hooks.commitTrailers.call({}, meta),
              ),
            }
          : undefined;
      // Back to queued, or where a plugin answers it rests instead (a fleet hand-back: blocked).
      return (progress.stage = await lifecycle.putBack(id, progress.stage, {
        by,
        reason: settlement.reason,
        patch: (m) => ({
          ...finishedOf(ran)(m),
          attempts: Math.max(0, m.attempts - 1),
          ...(wip ? { wip } : {}),
        }),
      }));
    }
    case "blocked":
      await lifecycle.move(id, progress.stage, "blocked", { by, reason: settlement.reason, patch: finishedOf(ran) });
      logger.warn(`${id}: blocked: ${settlement.reason}`);
      return (progress.stage = "blocked");
    case "review": {
      const meta = ran?.meta;
      const finished = finishedOf(ran);
      let patch = finished;
      if (meta?.worktree && meta.wip) {
        const commit = await commitAll(
          meta.worktree.path,
          `aq: ${id} (attempt ${meta.attempts})`,
          ctx.hooks.commitTrailers.call({}, meta),
        );
        const branch = meta.wip.branch;
        patch = (m) => ({ ...finished(m), wip: { branch, commit } });
      }
      await lifecycle.move(id, progress.stage, "review", { by, patch });
      const took = outcome.kind === "done" ? ` (${formatDuration(outcome.durationMs)})` : "";
      logger.success(`${id}: review${took}`);
      return (progress.stage = "review");
    }
  }
}

/**
 * Something threw: a fence from a tap fails the job as `fenced`; anything else, while the job is
 * still this runner's (assigned or building), is a retryable failure; a job already past them is
 * left where it is.
 */
export async function settleThrown(ctx: JobContext, progress: JobProgress, error: unknown): Promise<Stage> {
  const { lifecycle, logger } = ctx;
  const { id } = progress;
  // A fence an onStage tap answered was applied by the lifecycle's move: the job rests in failed.
  if (error instanceof JobFenced) return (progress.stage = error.stage);
  if (error instanceof FencedError) return settle(ctx, progress, { kind: "fenced", error });
  const current = (await lifecycle.store.locate(id)) ?? progress.stage;
  if (current !== "assigned" && current !== "building") {
    logger.error(`${id}: ${oneLine(error)}`);
    return current;
  }
  progress.stage = current;
  return settle(ctx, progress, { kind: "crashed", error }).catch((inner) => {
    logger.error(`${id}: could not record the failure: ${oneLine(inner)}`);
    return progress.stage;
  });
}

function finishedOf(ran: Omit<Ran, "outcome"> | undefined): (meta: JobMeta) => JobMeta {
  return ran?.finished ?? ((meta) => meta);
}
