import type { ParkRequest, PluginApi } from "../../src/index.ts";
import { IN_FLIGHT } from "./fleet-meta.ts";

/**
 * Jobs resting here whose lease was found stale (a late delivery, a renew of a held job, the
 * check before a ship): their result cannot be trusted, so they go to quarantine for a person.
 * This only records them; the runner (each turn of its loop) or `aq ship` makes the move when it
 * asks for park requests.
 */
export class Quarantine {
  private readonly pending = new Map<string, string>();

  note(id: string, why: string): void {
    this.pending.set(id, `fenced while offline: ${why}`);
  }

  /**
   * The parkJobs tap: hands over what was noted, once, but not a job that has since come to
   * rest as fenced (its runner failed it) or is running again here (its runner will fence it).
   */
  async requests(aq: PluginApi, requests: ParkRequest[]): Promise<ParkRequest[]> {
    const noted = [...this.pending];
    this.pending.clear();
    const due: ParkRequest[] = [];
    for (const [jobId, reason] of noted) {
      const job = await aq.queue.get(jobId).catch(() => undefined);
      if (!job || IN_FLIGHT.includes(job.stage) || (job.stage === "failed" && job.meta.reason === "fenced")) continue;
      due.push({ jobId, to: "quarantine", reason });
    }
    return [...requests, ...due];
  }
}
