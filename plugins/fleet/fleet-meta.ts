import * as v from "valibot";
import type { JobMeta, Stage } from "../../src/index.ts";
import { Checkpoint, type FleetStage } from "../../src/contract/fleet.ts";

/**
 * What a fleet job carries in meta.json, in two keys: `fleet`, its lease, exactly the shape the
 * job-file contract names (`{jobId, leaseEpoch, leaseExpiresAt, factoryId}`), and `fleetState`,
 * what the plugin keeps of its own: the outbox of reports not yet delivered, whether the release
 * is still to be sent, and whether the lease is closed (fenced by a 409, or handed back).
 */
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

const Closed = v.object({ at: v.string(), leaseEpoch: v.number() });

const FleetStateSchema = v.object({
  outbox: v.optional(v.array(Report), []),
  release: v.optional(v.picklist(["pending", "done"])),
  /** The coordinator answered 409: nothing more is sent under this lease. */
  fenced: v.optional(Closed),
  /** This factory gave the lease back (a cancelled job): nothing more is sent under it either. */
  handedBack: v.optional(Closed),
});
export type FleetState = Omit<v.InferOutput<typeof FleetStateSchema>, "outbox"> & { outbox: Report[] };

/** A fleet job as the plugin reads it: its lease and its state, parsed once per meta object. */
export interface FleetJob {
  readonly lease: FleetLease;
  readonly state: FleetState;
  /** Fenced or handed back: nothing more is sent under the lease. */
  readonly closed: boolean;
}

const parsed = new WeakMap<object, FleetJob | null>();

/** The fleet side of a job's meta, or undefined for a job that is not a fleet job. */
export function fleetJobOf(meta: Readonly<JobMeta>): FleetJob | undefined {
  const known = parsed.get(meta);
  if (known !== undefined) return known ?? undefined;
  const job = parse(meta);
  parsed.set(meta, job ?? null);
  return job;
}

/** The keys written before fleetState held them all; a queue from then is still read, and moved on at the next write. */
const LEGACY_KEYS = ["fleetOutbox", "fleetRelease", "fleetFenced", "fleetHandedBack"] as const;

function parse(meta: Readonly<JobMeta>): FleetJob | undefined {
  if (meta.origin.kind !== "fleet") return undefined;
  const lease = v.safeParse(FleetLease, meta.fleet);
  if (!lease.success) return undefined;
  const raw =
    typeof meta.fleetState === "object" && meta.fleetState !== null
      ? meta.fleetState
      : {
          outbox: meta.fleetOutbox,
          release: meta.fleetRelease,
          fenced: objectOrUndefined(meta.fleetFenced),
          handedBack: objectOrUndefined(meta.fleetHandedBack),
        };
  const result = v.safeParse(FleetStateSchema, raw);
  const state = (result.success ? result.output : { outbox: [] }) as FleetState;
  return { lease: lease.output, state, closed: state.fenced !== undefined || state.handedBack !== undefined };
}

function objectOrUndefined(value: unknown): unknown {
  return typeof value === "object" && value !== null ? value : undefined;
}

/** A meta patch (for aq.queue.updateMeta) that sets the job's fleet state: `change` gets the current one. */
export function statePatch(
  meta: Readonly<JobMeta>,
  change: (state: FleetState) => FleetState,
): Record<string, unknown> {
  const current = fleetJobOf(meta)?.state ?? { outbox: [] };
  const legacy = Object.fromEntries(LEGACY_KEYS.filter((key) => key in meta).map((key) => [key, undefined]));
  return { ...legacy, fleetState: change(current) };
}

export function leaseOf(meta: Readonly<JobMeta>): FleetLease | undefined {
  return fleetJobOf(meta)?.lease;
}

export function outboxOf(meta: Readonly<JobMeta>): Report[] {
  return fleetJobOf(meta)?.state.outbox ?? [];
}

/** Nothing more is sent under the job's lease: fenced by a 409, or handed back. */
export function fencedOf(meta: Readonly<JobMeta>): boolean {
  return fleetJobOf(meta)?.closed ?? false;
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
