import type { Aq } from "../app.ts";
import { AqError } from "../core/errors.ts";
import type { Stage } from "../core/stages.ts";
import { canMove } from "../core/stages.ts";
import { isAlive } from "../core/process-ref.ts";

const RETRYABLE: readonly Stage[] = ["failed", "blocked", "dead_letter", "quarantine"];

/** A person sends a failed, blocked, dead-letter or quarantined job back to the queue, attempts reset. */
export async function retry(aq: Aq, id: string): Promise<Stage> {
  const job = await aq.store.get(id);
  if (!RETRYABLE.includes(job.stage))
    throw new AqError(
      "AQ_CONFLICT",
      `job ${id} is in ${job.stage}/; only failed, blocked, dead_letter or quarantine jobs can be retried`,
    );
  await aq.lifecycle.move(id, job.stage, "queued", {
    by: aq.by,
    reason: `retried by a person (was ${job.stage}${job.meta.reason ? `: ${job.meta.reason}` : ""})`,
    patch: (meta) => {
      const { notBefore: _, ...rest } = meta;
      return { ...rest, attempts: 0 };
    },
  });
  return "queued";
}

/** A person parks a job that is not running. */
export async function block(aq: Aq, id: string, reason: string): Promise<Stage> {
  if (!reason.trim()) throw new AqError("AQ_BAD_USAGE", "aq block: --reason must say why");
  const job = await aq.store.get(id);
  if ((job.stage === "assigned" || job.stage === "building") && job.meta.owner && isAlive(job.meta.owner)) {
    throw new AqError(
      "AQ_CONFLICT",
      `job ${id} is ${job.stage} by runner pid ${job.meta.owner.pid}; stop that runner first`,
    );
  }
  if (job.stage === "blocked") throw new AqError("AQ_CONFLICT", `job ${id} is already blocked`);
  if (!canMove(job.stage, "blocked"))
    throw new AqError("AQ_CONFLICT", `job ${id} is in ${job.stage}/ and cannot be blocked`);
  await aq.lifecycle.move(id, job.stage, "blocked", { by: aq.by, reason: reason.trim() });
  return "blocked";
}
