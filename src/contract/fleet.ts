import * as v from "valibot";

/**
 * The fleet coordinator's HTTP contract (docs/design.md, "The fleet plugin"), as valibot schemas. The fleet plugin (the
 * client) and the development coordinator (the server) share these and nothing else.
 */

export const FLEET_STAGES = ["building", "review", "testing", "shipped", "failed", "blocked"] as const;
export type FleetStage = (typeof FLEET_STAGES)[number];

export const Health = v.picklist(["ok", "degraded", "draining"]);
export type Health = v.InferOutput<typeof Health>;

export const HeartbeatRequest = v.object({
  factoryId: v.pipe(v.string(), v.nonEmpty()),
  capabilities: v.array(v.string()),
  health: Health,
  load: v.pipe(v.number(), v.minValue(0)),
  /** aq's own addition: "shadow" for a factory that runs its own queue only and claims nothing. */
  mode: v.optional(v.picklist(["fleet", "shadow"])),
});
export type HeartbeatRequest = v.InferOutput<typeof HeartbeatRequest>;

/** 2xx; a coordinator may tell how many jobs this factory could claim. */
export const HeartbeatAnswer = v.nullish(
  v.looseObject({
    claimable: v.optional(v.number()),
    /** aq's coordinator: queued jobs no live factory can take, by what they require and which capabilities none has. */
    waiting: v.optional(
      v.array(v.looseObject({ requires: v.array(v.string()), jobs: v.number(), missing: v.array(v.string()) })),
    ),
  }),
);

export const ClaimRequest = v.object({
  factoryId: v.pipe(v.string(), v.nonEmpty()),
  capabilities: v.array(v.string()),
});

export const Checkpoint = v.looseObject({ wipBranch: v.optional(v.string()), wipCommit: v.optional(v.string()) });
export type Checkpoint = v.InferOutput<typeof Checkpoint>;

export const FleetJob = v.looseObject({
  id: v.pipe(v.union([v.string(), v.number()]), v.transform(String)),
  bodyMd: v.pipe(v.string(), v.nonEmpty("bodyMd is empty")),
  title: v.optional(v.string()),
  /** Job options (frontmatter keys) the coordinator sets. */
  options: v.optional(v.record(v.string(), v.unknown())),
  /** Where an earlier holder got to: a reclaim resumes from it. */
  checkpoint: v.optional(v.nullable(Checkpoint)),
});
export type FleetJob = v.InferOutput<typeof FleetJob>;

export const ClaimedAnswer = v.object({
  job: FleetJob,
  leaseEpoch: v.pipe(v.number(), v.integer(), v.minValue(1)),
  leaseExpiresAt: v.union([v.string(), v.number()]),
});

/** Nothing to do: 204 (no body), `{}`, or `{ job: null }`. */
export const ClaimAnswer = v.union([v.undefined(), v.null(), v.object({ job: v.optional(v.null()) }), ClaimedAnswer]);
export type ClaimAnswer = v.InferOutput<typeof ClaimAnswer>;

export const ReportRequest = v.object({
  stage: v.picklist(FLEET_STAGES),
  checkpoint: v.optional(Checkpoint),
  leaseEpoch: v.pipe(v.number(), v.integer()),
});
export type ReportRequest = v.InferOutput<typeof ReportRequest>;

export const LeaseRequest = v.object({ leaseEpoch: v.pipe(v.number(), v.integer()) });

export const LeaseAnswer = v.nullish(v.looseObject({ leaseExpiresAt: v.optional(v.union([v.string(), v.number()])) }));

export const AnyAnswer = v.unknown();
