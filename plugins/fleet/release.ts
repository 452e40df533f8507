import type { JobMeta, PluginApi, StageEvent } from "../../src/index.ts";
import type { Connection } from "./connection.ts";
import type { Fence } from "./fence.ts";
import { fleetJobOf, statePatch } from "./fleet-meta.ts";
import type { Outbox } from "./report.ts";

/** The job came to rest here: once its reports are through, the lease goes back (unless it is not ours any more). */
export async function release(aq: PluginApi, outbox: Outbox, fence: Fence, id: string): Promise<void> {
  if (fleetJobOf((await aq.queue.get(id)).meta)?.closed) return;
  await outbox.update(id, (state) => ({ ...state, release: "pending" }));
  if ((await outbox.deliver(id)) === "fenced") await fence.decide(id, "deferred");
}

/**
 * Gives the lease back (a cancelled job): the checkpoint report first, then the mark that
 * nothing more is sent under this lease (so a renew racing the release is not taken for a
 * fence), then the release itself. Offline, the lease simply expires at the coordinator.
 */
export async function handBack(aq: PluginApi, connection: Connection, outbox: Outbox, event: StageEvent) {
  const lease = fleetJobOf(event.meta)?.lease;
  if (!lease) return;
  await outbox.report(event, "building");
  await outbox.update(event.jobId, (state) => ({
    ...state,
    handedBack: { at: new Date().toISOString(), leaseEpoch: lease.leaseEpoch },
  }));
  await outbox.chain(event.jobId, async () =>
    sendRelease(aq, connection, event.jobId, (await aq.queue.get(event.jobId)).meta),
  );
}

/** POST .../lease/release with the epoch; done once answered (even refused), kept pending while unreachable. */
export async function sendRelease(aq: PluginApi, connection: Connection, id: string, meta: JobMeta): Promise<void> {
  const lease = fleetJobOf(meta)?.lease;
  if (!lease) return;
  const result = connection.note(await (await connection.api()).release(lease.jobId, lease.leaseEpoch));
  if (!result.ok && result.transient) return;
  if (!result.ok) aq.logger.warn(`release of ${lease.jobId} (epoch ${lease.leaseEpoch}): ${result.problem}`);
  await aq.queue.updateMeta(id, (current) => statePatch(current, (state) => ({ ...state, release: "done" })));
}
