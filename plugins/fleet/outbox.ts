import { FencedError, type JobMeta, type PluginApi, type StageEvent } from "../../src/index.ts";
import type { FleetStage } from "../../src/contract/fleet.ts";
import type { Connection } from "./connection.ts";
import { fencedOf, IN_FLIGHT, leaseOf, outboxOf, type Report } from "./fleet-meta.ts";
import type { Quarantine } from "./quarantine.ts";

/** "fenced": this delivery met the 409; "was-fenced": an earlier one did (nothing was sent now). */
export type Delivery = "delivered" | "pending" | "fenced" | "was-fenced";

/**
 * Each fleet job's reports go through an outbox kept in its meta.json: appended first, then
 * delivered in order with the lease epoch, and removed only once the coordinator took them. A
 * coordinator that cannot be reached leaves them there (a restart loses none); the next call
 * that gets through delivers them. A 409 on a late delivery quarantines the finished result.
 */
export class Outbox {
  private readonly aq: PluginApi;
  private readonly connection: Connection;
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Engines running here, by local job id: a 409 found by a late delivery stops them. */
  readonly inFlight = new Map<string, (error: Error) => void>();

  private readonly quarantine: Quarantine;

  constructor(aq: PluginApi, connection: Connection, quarantine: Quarantine) {
    this.aq = aq;
    this.connection = connection;
    this.quarantine = quarantine;
  }

  /**
   * One job's outbox work runs one step at a time, in this process and across processes (the
   * runner's heartbeat and an `aq ship` may both deliver), so reports keep their order and none
   * is sent twice.
   */
  private chain<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const locked = () => this.aq.queue.exclusive(`outbox.${id}`, fn);
    const next = (this.chains.get(id) ?? Promise.resolve()).then(locked, locked);
    this.chains.set(
      id,
      next.catch(() => {}),
    );
    return next;
  }

  /** Records a report and tries to deliver the job's outbox now. */
  async report(event: StageEvent, stage: FleetStage): Promise<Delivery> {
    const lease = leaseOf(event.meta);
    if (!lease) return "delivered";
    const wip = event.meta.wip;
    const entry: Report = {
      stage,
      leaseEpoch: lease.leaseEpoch,
      ...(wip ? { checkpoint: { wipBranch: wip.branch, wipCommit: wip.commit } } : {}),
      at: new Date().toISOString(),
    };
    await this.chain(event.jobId, () =>
      this.aq.queue.updateMeta(event.jobId, (meta) => ({ fleetOutbox: [...outboxOf(meta), entry] })),
    );
    const delivery = await this.deliver(event.jobId);
    return delivery === "was-fenced" ? "fenced" : delivery;
  }

  /**
   * Delivers what waits in one job's outbox, oldest first; stops at the first that cannot go.
   * A 409 fences the job for good: its outbox is emptied and nothing more is sent under that
   * lease (a later call answers "was-fenced" without asking the coordinator again).
   */
  deliver(id: string): Promise<Delivery> {
    return this.chain(id, async () => {
      let meta: JobMeta = (await this.aq.queue.get(id)).meta;
      const lease = leaseOf(meta);
      if (lease && fencedOf(meta)) return "was-fenced";
      if (!lease || this.connection.authProblem) return outboxOf(meta).length ? "pending" : "delivered";
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
          await this.aq.queue.updateMeta(id, () => fencedPatch(lease.leaseEpoch));
          return "fenced";
        }
        if (!result.ok && result.transient) return "pending";
        if (!result.ok) this.aq.logger.warn(`report ${head.stage} of ${id} dropped: ${result.problem}`);
        meta = await this.aq.queue.updateMeta(id, (current) => ({ fleetOutbox: outboxOf(current).slice(1) }));
      }
      if (meta.fleetRelease === "pending") await this.releaseNow(id, meta);
      return "delivered";
    });
  }

  /**
   * Gives the lease back (a cancelled job): the checkpoint report first, then the mark that
   * nothing more is sent under this lease (so a renew racing the release is not taken for a
   * fence), then the release itself. Offline, the lease simply expires at the coordinator.
   */
  async handBack(event: StageEvent): Promise<void> {
    const lease = leaseOf(event.meta);
    if (!lease) return;
    await this.report(event, "building");
    await this.chain(event.jobId, () =>
      this.aq.queue.updateMeta(event.jobId, () => ({
        fleetHandedBack: { at: new Date().toISOString(), leaseEpoch: lease.leaseEpoch },
      })),
    );
    await this.chain(event.jobId, async () =>
      this.releaseNow(event.jobId, (await this.aq.queue.get(event.jobId)).meta),
    );
  }

  /** Records a 409 met elsewhere (a renew): nothing more is sent under that lease. */
  markFenced(id: string, leaseEpoch: number): Promise<unknown> {
    return this.chain(id, () => this.aq.queue.updateMeta(id, () => fencedPatch(leaseEpoch)));
  }

  /** The job came to rest here: once its reports are through, the lease goes back (unless it is not ours any more). */
  async release(id: string): Promise<void> {
    if (fencedOf((await this.aq.queue.get(id)).meta)) return;
    await this.chain(id, () => this.aq.queue.updateMeta(id, () => ({ fleetRelease: "pending" })));
    const delivery = await this.deliver(id);
    if (delivery === "fenced") await this.fenced(id, "deferred");
  }

  private async releaseNow(id: string, meta: JobMeta): Promise<void> {
    const lease = leaseOf(meta);
    if (!lease) return;
    const result = this.connection.note(await (await this.connection.api()).release(lease.jobId, lease.leaseEpoch));
    if (!result.ok && result.transient) return;
    if (!result.ok) this.aq.logger.warn(`release of ${lease.jobId} (epoch ${lease.leaseEpoch}): ${result.problem}`);
    await this.aq.queue.updateMeta(id, () => ({ fleetRelease: "done" }));
  }

  /** Catches up every outbox here (after the coordinator answered again). */
  async flushAll(): Promise<void> {
    const { jobs } = await this.aq.queue.list();
    for (const job of jobs) {
      // Fenced, but the process that met the 409 stopped before the job was moved: quarantine it now.
      if (job.meta.fleetFenced && HELD_AT_REST.includes(job.stage)) this.quarantine.note(job.id, staleWhy(job.meta));
      // A job already fenced was dealt with when its 409 came: it is not fenced twice.
      if (
        !leaseOf(job.meta) ||
        fencedOf(job.meta) ||
        (outboxOf(job.meta).length === 0 && job.meta.fleetRelease !== "pending")
      )
        continue;
      if (!this.connection.mayCall()) return;
      const delivery = await this.deliver(job.id);
      if (delivery === "fenced") await this.fenced(job.id, "deferred");
    }
  }

  /** Jobs whose reports wait for the coordinator, for `status` and the heartbeat's health. */
  async waiting(): Promise<number> {
    const { jobs } = await this.aq.queue.list();
    return jobs.filter((job) => leaseOf(job.meta) && !fencedOf(job.meta) && outboxOf(job.meta).length > 0).length;
  }

  /**
   * The coordinator says the lease is someone else's. Live (a report of the transition that just
   * happened): a FencedError goes back to whoever moved the job, which fails it as `fenced`, and
   * an engine still running is killed. Deferred (a late delivery): a running engine is killed;
   * a result finished while offline goes to quarantine, never shipped.
   */
  async fenced(id: string, when: "live" | "deferred"): Promise<void> {
    const job = await this.aq.queue.get(id).catch(() => undefined);
    if (!job) return;
    // A lease this factory handed back answers 409 to a late renew: that is no fence.
    if (job.meta.fleetHandedBack) return;
    const why = staleWhy(job.meta);
    this.inFlight.get(id)?.(new FencedError(id, why));
    if (when === "live") throw new FencedError(id, why);
    if (IN_FLIGHT.includes(job.stage) || (job.stage === "failed" && job.meta.reason === "fenced")) return;
    this.quarantine.note(id, why);
  }
}

/** Stages where a job rests while its lease is still held here (renewed with each heartbeat). */
const HELD_AT_REST = ["queued", "review", "testing"];

function staleWhy(meta: Readonly<JobMeta>): string {
  const lease = leaseOf(meta);
  return `lease epoch ${lease?.leaseEpoch} of ${lease?.jobId} is stale (the coordinator answered 409: another factory holds the job)`;
}

/** What a 409 leaves in the job's meta: an empty outbox, no release to send, and the fence. */
function fencedPatch(leaseEpoch: number): Record<string, unknown> {
  return { fleetOutbox: [], fleetRelease: "done", fleetFenced: { at: new Date().toISOString(), leaseEpoch } };
}
