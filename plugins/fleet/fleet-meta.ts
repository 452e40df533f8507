import * as v from "valibot";
import type { JobMeta, Stage } from "../../src/index.ts";
import { Checkpoint, type FleetStage } from "../../src/contract/fleet.ts";

/** What a fleet job carries in meta.json: its lease, and the outbox of reports not yet delivered. */
export const FleetLease = v.object({
  jobId: v.string(),
  leaseEpoch: v.number(),
  leaseExpiresAt: v.optional(v.string()),
  factoryId: v.string(),
});
export type FleetLease = v.InferOutput<typeof FleetLease>;

export const Report = v.object({
  stage: v.string(),
  leaseEpoch: v.number(),
  checkpoint: v.optional(Checkpoint),
  at: v.string(),
});
export type Report = v.InferOutput<typeof Report> & { stage: FleetStage };

export function leaseOf(meta: Readonly<JobMeta>): FleetLease | undefined {
  if (meta.origin.kind !== "fleet") return undefined;
  const result = v.safeParse(FleetLease, meta.fleet);
  return result.success ? result.output : undefined;
}

export function outboxOf(meta: Readonly<JobMeta>): Report[] {
  const result = v.safeParse(v.array(Report), meta.fleetOutbox ?? []);
  return result.success ? (result.output as Report[]) : [];
}

/**
 * Nothing more is sent under the job's lease: the coordinator answered 409 (fleetFenced), or the
 * lease was handed back (fleetHandedBack).
 */
export function fencedOf(meta: Readonly<JobMeta>): boolean {
  return (
    (typeof meta.fleetFenced === "object" && meta.fleetFenced !== null) ||
    (typeof meta.fleetHandedBack === "object" && meta.fleetHandedBack !== null)
  );
}

/** Local stages that are reported to the coordinator as they happen. */
export const REPORTED_ON_STAGE: Partial<Record<Stage, FleetStage>> = {
  building: "building",
  review: "review",
  testing: "testing",
  blocked: "blocked",
  shipped: "shipped",
};

/** A job still held by a runner here: a 409 for it kills its engine rather than quarantining it. */
export const IN_FLIGHT: readonly Stage[] = ["assigned", "building"];
