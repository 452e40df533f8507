import type { JobMeta, PluginApi, StageEvent } from "../../src/index.ts";
import type { FleetStage } from "../../src/contract/fleet.ts";
import type { Connection } from "./connection.ts";
import { fencedState } from "./fence.ts";
import { fleetJobOf, outboxOf, statePatch, type Report } from "./fleet-meta.ts";
import type { Fence } from "./fence.ts";
import { sendRelease } from "./release.ts";

/** "fenced": this delivery met the 409; "was-fenced": an earlier one did (nothing was sent now). */
export type Delivery = "delivered" | "pending" | "fenced" | "was-fenced";

/**
 * Each fleet job's reports go through an outbox kept in its meta.json: appended first, then
 * delivered in order with the lease epoch, and removed only once the coordinator took them. A
 * coordinator that cannot be reached leaves them there (a restart loses none); the next call
 * that gets through delivers them. A 409 closes the lease; what that means is the fence's to say.
 */
export class Outbox {
  private readonly aq: PluginApi;
  private readonly connection: Connection;
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(aq: PluginApi, connection: Connection) {
    this.aq = aq;
    this.connection = connection;
  }

  /**
   * One job's fleet state changes one step at a time, in this process and across processes (the
   * runner's heartbeat and an `aq ship` may both deliver), so reports keep their order and none
   * is sent twice.
   */
  chain<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const locked = () => this.aq.queue.exclusive(`outbox.${id}`, fn);
    const next = (this.chains.get(id) ?? Promise.resolve()).then(locked, locked);
    this.chains.set(
      id,
      next.catch(() => {}),
    );
    return next;
  }

  /** Changes the job's fleet state, serialized with every other change of it. */
  update(id: string, change: Parameters<typeof statePatch>[1]): Promise<JobMeta> {
    return this.chain(id, () => this.aq.queue.updateMeta(id, (meta) => statePatch(meta, change)));
  }

  /** Records a report and tries to deliver the job's outbox now. */
  async report(event: StageEvent, stage: FleetStage): Promise<Delivery> {
    const lease = fleetJobOf(event.meta)?.lease;
    if (!lease) return "delivered";
    const wip = event.meta.wip;
    const entry: Report = {
      stage,
      leaseEpoch: lease.leaseEpoch,
      ...(wip ? { checkpoint: { wipBranch: wip.branch, wipCommit: wip.commit } } : {}),
      at: new Date().toISOString(),
    };
    await this.update(event.jobId, (state) => ({ ...state, outbox: [...state.outbox, entry] }));
    const delivery = await this.deliver(event.jobId);
    return delivery === "was-fenced" ? "fenced" : delivery;
  }

  /**
   * Delivers what waits in one job's outbox, oldest first; stops at the first that cannot go.
   * A 409 closes the lease for good: the outbox is emptied and nothing more is sent under it (a
   * later call answers "was-fenced" without asking the coordinator again).
   */
  deliver(id: string): Promise<Delivery> {
    return this.chain(id, async () => {
      let meta: JobMeta = (await this.aq.queue.get(id)).meta;
      const fleet = fleetJobOf(meta);
      if (fleet?.closed) return "was-fenced";
      if (!fleet || this.connection.authProblem) return outboxOf(meta).length ? "pending" : "delivered";
      const { lease } = fleet;
      const api = await this.connection.api();
      for (let head = outboxOf(meta)[0]; head; head = outboxOf(meta)[0]) {
        const result = this.connection.note(
          await api.report(lease.jobId, {
            stage: head.stage,
            leaseEpoch: head.leaseEpoch,
            ...(head.checkpoint ? { checkpoint: head.checkpoint } : {}),
          }),
        );
        if (!result.ok && result.status === 409) {
          await this.aq.queue.updateMeta(id, (current) => statePatch(current, fencedState(lease.leaseEpoch)));
          return "fenced";
        }
        if (!result.ok && result.transient) return "pending";
        if (!result.ok) this.aq.logger.warn(`report ${head.stage} of ${id} dropped: ${result.problem}`);
        meta = await this.aq.queue.updateMeta(id, (current) =>
          statePatch(current, (state) => ({ ...state, outbox: state.outbox.slice(1) })),
        );
      }
      if (fleetJobOf(meta)?.state.release === "pending") await sendRelease(this.aq, this.connection, id, meta);
      return "delivered";
    });
  }

  /** Every job here whose outbox or release still waits for the coordinator. */
  async behind(): Promise<Array<{ id: string; stage: string; meta: JobMeta }>> {
    const { jobs } = await this.aq.queue.list();
    return jobs.filter((job) => {
      const fleet = fleetJobOf(job.meta);
      return fleet && !fleet.closed && (fleet.state.outbox.length > 0 || fleet.state.release === "pending");
    });
  }

  /** Jobs whose reports wait for the coordinator, for `status` and the heartbeat's health. */
  async waiting(): Promise<number> {
    return (await this.behind()).filter((job) => outboxOf(job.meta).length > 0).length;
  }
}

/** Catches up every outbox here (the coordinator answers again, or a runner starts). */
export async function flushAll(
  outbox: Outbox,
  fence: Fence,
  connection: Connection,
  current: () => boolean = () => true,
): Promise<void> {
  for (const job of await outbox.behind()) {
    if (!connection.mayCall() || !current()) return;
    if ((await outbox.deliver(job.id)) === "fenced") await fence.decide(job.id, "deferred");
  }
}
