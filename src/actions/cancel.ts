import { setTimeout as sleep } from "node:timers/promises";
import type { Aq } from "../app.ts";
import { requestCancel } from "../core/cancel-request.ts";
import { AqError } from "../core/errors.ts";
import { isAlive } from "../core/process-ref.ts";
import type { Stage } from "../core/stages.ts";

export interface CancelOutcome {
  /** Where the job is now: queued or failed once the runner acted, building if it has not yet. */
  readonly stage: Stage;
}

/**
 * A person cancels a running job: the runner that holds it is asked (a request file in the job's
 * directory) to kill the engine's process group and move the job back to queued (the attempt does
 * not count) or to failed. Waits up to `waitMs` for the runner to do it.
 */
export async function cancel(
  aq: Aq,
  id: string,
  options: { to?: "queued" | "failed"; waitMs?: number } = {},
): Promise<CancelOutcome> {
  const job = await aq.store.get(id);
  if (job.stage === "assigned")
    throw new AqError("AQ_CONFLICT", `job ${id} is starting (assigned/); cancel it once it is building`);
  if (job.stage !== "building")
    throw new AqError(
      "AQ_CONFLICT",
      `job ${id} is in ${job.stage}/, not running; only a building job can be cancelled`,
    );
  const owner = job.meta.owner;
  if (!owner || !isAlive(owner))
    throw new AqError(
      "AQ_CONFLICT",
      `job ${id}: the runner that held it${owner ? ` (pid ${owner.pid})` : ""} is gone; the next aq run recovers it`,
    );
  const to = options.to ?? "queued";
  await requestCancel(job.dir, { to, by: aq.by, at: new Date().toISOString() });
  aq.logger.info(`${id}: cancel requested (to ${to}); runner pid ${owner.pid} stops its engine`);
  const deadline = Date.now() + (options.waitMs ?? aq.config.killGraceMs + 5_000);
  for (;;) {
    const stage = await aq.store.locate(id);
    if (stage !== "building" || Date.now() >= deadline) return { stage: stage ?? "building" };
    await sleep(100);
  }
}
