import { FencedError, type PluginApi } from "../../src/index.ts";
import { fleetJobOf, type FleetState, IN_FLIGHT, leaseOf } from "./fleet-meta.ts";
import type { Quarantine } from "./quarantine.ts";
import type { Outbox } from "./report.ts";

/** What a 409 leaves in the job's fleet state: an empty outbox, no release to send, and the fence. */
export function fencedState(leaseEpoch: number): (state: FleetState) => FleetState {
  return (state) => ({ ...state, outbox: [], release: "done", fenced: { at: new Date().toISOString(), leaseEpoch } });
}

/** Stages where a job rests while its lease is still held here (renewed with each heartbeat). */
const HELD_AT_REST: readonly string[] = ["queued", "review", "testing"];

/**
 * The one place that says what a 409 means — the coordinator says another factory holds the
 * job's lease. Live (the report of a transition that just happened): a FencedError goes back to
 * the core, which fails the job as `fenced`. Otherwise: an engine running here is stopped (the
 * runner then fails the job as fenced); a job resting here goes to quarantine, never shipped.
 */
export class Fence {
  private readonly aq: PluginApi;
  private readonly outbox: Outbox;
  private readonly quarantine: Quarantine;
  /** Engines building here, by local job id: how a 409 found by a timer stops one. */
  private readonly engines = new Map<string, (error: Error) => void>();

  constructor(aq: PluginApi, outbox: Outbox, quarantine: Quarantine) {
    this.aq = aq;
    this.outbox = outbox;
    this.quarantine = quarantine;
  }

  /** While a job builds here: how to stop its engine. */
  watch(id: string, abort: (error: Error) => void): void {
    this.engines.set(id, abort);
  }

  unwatch(id: string): void {
    this.engines.delete(id);
  }

  /** A 409 met outside the outbox (a renew): recorded in the job's fleet state, then decided. */
  async met(id: string, leaseEpoch: number, when: "live" | "deferred", detail?: string): Promise<void> {
    await this.outbox.update(id, fencedState(leaseEpoch));
    await this.decide(id, when, detail);
  }

  /** Acts on a 409 already recorded in the job's fleet state. */
  async decide(id: string, when: "live" | "deferred", detail?: string): Promise<void> {
    const job = await this.aq.queue.get(id).catch(() => undefined);
    if (!job) return;
    // A lease this factory handed back answers 409 to a late renew: that is no fence.
    if (fleetJobOf(job.meta)?.state.handedBack) return;
    const why = detail ?? staleWhy(job.meta);
    this.engines.get(id)?.(new FencedError(id, why));
    if (when === "live") throw new FencedError(id, why);
    if (IN_FLIGHT.includes(job.stage) || (job.stage === "failed" && job.meta.reason === "fenced")) return;
    this.quarantine.note(id, why);
  }

  /** Fenced, but the process that met the 409 stopped before the job was moved: quarantine it now. */
  async sweep(): Promise<void> {
    const { jobs } = await this.aq.queue.list(["queued", "review", "testing"]);
    for (const job of jobs) {
      if (fleetJobOf(job.meta)?.state.fenced && HELD_AT_REST.includes(job.stage))
        this.quarantine.note(job.id, staleWhy(job.meta));
    }
  }
}

function staleWhy(meta: Parameters<typeof leaseOf>[0]): string {
  const lease = leaseOf(meta);
  return `lease epoch ${lease?.leaseEpoch} of ${lease?.jobId} is stale (the coordinator answered 409: another factory holds the job)`;
}
