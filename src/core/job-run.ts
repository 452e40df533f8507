import type { FileLock } from "./locks.ts";
import type { JobRecord } from "./queue-store.ts";
import type { Stage } from "./stages.ts";
import { type AbortReason, SHUTDOWN } from "./job-run/abort.ts";
import type { JobContext, JobProgress } from "./job-run/context.ts";
import { planJob } from "./job-run/plan.ts";
import { runJob } from "./job-run/run.ts";
import { settle, settleThrown } from "./job-run/settle.ts";

export type { AbortReason } from "./job-run/abort.ts";
export type { JobContext } from "./job-run/context.ts";
export { BLOCKED_EXIT_CODE, describeExit } from "./job-run/exit.ts";

/** The reason the runner's stop-now signal carries (a second SIGINT/SIGTERM): running jobs go back to the queue. */
export const CANCELLED: AbortReason = SHUTDOWN;

/**
 * Runs one claimed job from assigned/ to its next resting stage: plan (read it, ready its
 * worktree), run (the engine, in building/), settle (the outcome's move). Never throws for the
 * job's own failures.
 */
export async function executeJob(ctx: JobContext, claimed: JobRecord, lock: FileLock | undefined): Promise<Stage> {
  const progress: JobProgress = { id: claimed.id, stage: claimed.stage, maxAttempts: ctx.config.defaults.maxAttempts };
  try {
    if (claimed.meta.history.at(-1)?.from === "queued") await ctx.lifecycle.announceMove(claimed, "queued", ctx.by);
    const plan = await planJob(ctx, claimed, progress);
    if (plan.kind === "unplannable") return await settle(ctx, progress, plan);
    const ran = await runJob(ctx, plan, progress);
    return await settle(ctx, progress, ran.outcome, ran);
  } catch (error) {
    return await settleThrown(ctx, progress, error);
  } finally {
    await lock?.release();
  }
}
