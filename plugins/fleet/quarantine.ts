import type { ParkRequest } from "../../src/index.ts";

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

  /** The parkRequests tap: hands over what was noted, once. */
  requests(requests: ParkRequest[]): ParkRequest[] {
    const noted = [...this.pending].map(([jobId, reason]) => ({ jobId, to: "quarantine" as const, reason }));
    this.pending.clear();
    return [...requests, ...noted];
  }
}
