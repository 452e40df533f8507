import type { BuildingContext, PluginApi } from "../../src/index.ts";
import type { Connection } from "./connection.ts";
import { reportCheckpoints } from "./checkpoint.ts";
import type { Fence } from "./fence.ts";
import { type FleetLease, fleetJobOf } from "./fleet-meta.ts";
import type { Outbox } from "./report.ts";

export type Renewal = "renewed" | "fenced" | "failed";

/**
 * The one renew: POST .../lease/renew with the job's epoch. A 409 is recorded and handed to the
 * fence; any other failure is only that (the job goes on). Answers the new expiry, if any.
 */
export async function renewLease(
  connection: Connection,
  fence: Fence,
  id: string,
  lease: FleetLease,
  detail?: string,
): Promise<{ renewal: Renewal; problem?: string; expires?: string }> {
  const result = connection.note(await (await connection.api()).renew(lease.jobId, lease.leaseEpoch));
  if (result.ok) {
    const expires = result.data?.leaseExpiresAt;
    return { renewal: "renewed", ...(expires !== undefined ? { expires: String(expires) } : {}) };
  }
  if (result.status === 409) {
    await fence.met(id, lease.leaseEpoch, "deferred", detail);
    return { renewal: "fenced", problem: result.problem };
  }
  return { renewal: "failed", problem: result.problem };
}

/**
 * While a fleet job builds, its lease is renewed on a timer with the current epoch. A renew
 * answered 409 is recorded and the fence stops the engine (the runner then fails the job as
 * fenced); a coordinator that cannot be reached does not stop the job, which finishes locally.
 */
export function renewWhileBuilding(
  aq: PluginApi,
  connection: Connection,
  outbox: Outbox,
  fence: Fence,
  ctx: BuildingContext,
): void {
  const lease = fleetJobOf(ctx.meta)?.lease;
  if (!lease) return;
  fence.watch(ctx.jobId, (error) => ctx.abort(error));
  const checkpoint = reportCheckpoints(aq, outbox, ctx);
  const renew = async () => {
    if (connection.authProblem) return;
    const { renewal, problem, expires } = await renewLease(
      connection,
      fence,
      ctx.jobId,
      lease,
      `lease renew of ${lease.jobId} (epoch ${lease.leaseEpoch}) answered 409: another factory holds the job now`,
    );
    if (renewal === "renewed") {
      // The building job's lease expiry is kept up to date (the dashboard shows it).
      if (expires !== undefined)
        await aq.queue
          .updateMeta(ctx.jobId, (meta) => ({ fleet: { ...(meta.fleet as object), leaseExpiresAt: expires } }))
          .catch(() => {});
      await checkpoint().catch(() => {});
      void outbox.deliver(ctx.jobId).catch(() => {});
    } else if (renewal === "failed") aq.logger.debug(`${ctx.jobId}: lease renew failed: ${problem}`);
  };
  const timer = setInterval(
    () => void renew().catch((error) => aq.logger.debug(`${ctx.jobId}: renew: ${(error as Error).message}`)),
    connection.settings.renewMs,
  );
  timer.unref();
  ctx.signal.addEventListener(
    "abort",
    () => {
      clearInterval(timer);
      fence.unwatch(ctx.jobId);
    },
    { once: true },
  );
}

/**
 * A live factory keeps the leases of the fleet jobs it holds outside building (claimed and not
 * started yet, or waiting on a local retry; finished but not shipped): renewed with each
 * heartbeat, so the work waits for its runner or operator instead of being redone elsewhere.
 * `current` is asked before each renew: a beat that outlived its runner stops there.
 */
export async function renewHeld(
  aq: PluginApi,
  connection: Connection,
  fence: Fence,
  current: () => boolean = () => true,
): Promise<void> {
  const { jobs } = await aq.queue.list(["queued", "assigned", "review", "testing"]);
  for (const job of jobs) {
    if (!current()) return;
    const fleet = fleetJobOf(job.meta);
    if (!fleet || fleet.closed || !connection.mayCall()) continue;
    await renewLease(connection, fence, job.id, fleet.lease);
  }
}
