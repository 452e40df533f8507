import type { Checkpoint, FleetStage } from "../contract/fleet.ts";

/*
 * The contract every coordinator store keeps: its types, its policy numbers and the FleetStore
 * interface. Nothing here names a store; each store is its own files, listed once in stores.ts.
 */

/** How many observed (shadow) stages the views read back at most. */
export const OBSERVED_LIMIT = 5_000;

export type FactoryMode = "fleet" | "shadow";

export type CancelOutcome =
  | { ok: true; job: CoordinatorJob; holder: string | null }
  | { ok: false; reason: "missing" }
  | { ok: false; reason: "finished"; stage: string };

export interface ObservedInput {
  factoryId: string;
  jobId: string;
  title?: string | undefined;
  stage: string;
}

export interface ObservedEvent {
  id: number;
  factoryId: string;
  jobId: string;
  title: string | null;
  stage: string;
  at: string;
}
/** A heartbeat's claimable count stops here: "at least this many". */
export const CLAIMABLE_CAP = 100;

export interface CoordinatorJob {
  id: string;
  title: string | null;
  bodyMd: string;
  options: Record<string, unknown>;
  requires: string[];
  priority: number;
  stage: string;
  leaseEpoch: number;
  factoryId: string | null;
  leaseExpiresAt: number | null;
  checkpoint: Checkpoint | null;
  createdAt: number;
  updatedAt: number;
}

export interface FleetEvent {
  id: number;
  jobId: string;
  at: string;
  type: string;
  factoryId: string | null;
  leaseEpoch: number | null;
  stage: string | null;
  detail: string | null;
}

export type Fenced = { ok: false; reason: "stale" | "missing"; currentEpoch?: number };
export type Outcome<T> = { ok: true; value: T } | Fenced;

/** Where a job's lease stands after a fenced change. */
export interface LeaseState {
  readonly stage: string;
  readonly leaseEpoch: number;
  readonly factoryId: string | null;
  /** ms since the epoch, on the store's clock. */
  readonly leaseExpiresAt: number | null;
}

export interface EnqueueInput {
  id?: string | undefined;
  title?: string | undefined;
  bodyMd: string;
  options?: Record<string, unknown> | undefined;
  requires?: string[] | undefined;
  priority?: number | undefined;
}

export interface FactoryView {
  id: string;
  capabilities: string[];
  health: string;
  load: number;
  lastSeen: string;
  heartbeats: number;
  /** "shadow": it runs its own queue, claims nothing, and only shows what it does. */
  mode: FactoryMode;
}

export interface HeartbeatInput {
  factoryId: string;
  capabilities: string[];
  health: string;
  load: number;
  mode?: FactoryMode | undefined;
}

/** Queued jobs, grouped by what they require, and the capabilities of each live fleet factory. */
export interface WaitingDemand {
  groups: Array<{ requires: string[]; jobs: number }>;
  live: string[][];
}

export interface EnrollmentView {
  factoryId: string;
  enrolledAt: string;
  revokedAt: string | null;
}

export interface RunView {
  id: number;
  factoryId: string;
  leaseEpoch: number;
  startedAt: string;
  endedAt: string | null;
  outcome: string | null;
}

/**
 * The coordinator's state, behind any engine. Every fenced change (claim, report, renew,
 * release) is one statement or one transaction guarded by the lease epoch, and lease times come
 * from the store's own clock, so any number of coordinator processes over one store behave as one.
 */
export interface FleetStore {
  /** The store's name as `aq coordinator` and /api/health show it (sqlite, postgres). */
  readonly engine: string;
  readonly leaseMs: number;
  /** Dev only: puts a job in the fleet queue; undefined when a job with this id exists. */
  enqueue(input: EnqueueInput): Promise<CoordinatorJob | undefined>;
  job(id: string): Promise<CoordinatorJob | undefined>;
  jobs(): Promise<CoordinatorJob[]>;
  /** A shadow factory's heartbeat registers it and never counts anything claimable for it. */
  heartbeat(input: HeartbeatInput): Promise<{ claimable: number }>;
  factories(): Promise<FactoryView[]>;
  /** Raises the epoch of the best claimable job and hands it to this factory. */
  claim(
    factoryId: string,
    capabilities: readonly string[],
  ): Promise<{ job: CoordinatorJob; reclaimed: boolean } | undefined>;
  report(
    id: string,
    input: { stage: FleetStage; checkpoint?: Checkpoint | undefined; leaseEpoch: number },
  ): Promise<Outcome<LeaseState>>;
  renew(id: string, leaseEpoch: number): Promise<Outcome<LeaseState>>;
  release(id: string, leaseEpoch: number): Promise<Outcome<LeaseState>>;
  runs(id: string): Promise<RunView[]>;
  events(id?: string): Promise<FleetEvent[]>;
  /** Deletes the events of finished, released jobs (and observed stages) recorded before `before` (ms); answers how many. */
  pruneEvents(before: number): Promise<number>;
  /** Enrolls a factory under a token (given hashed); an earlier token of the same factory is revoked. */
  enroll(factoryId: string, tokenHash: string): Promise<void>;
  /** The factory an active token (given hashed) was issued to. */
  tokenFactory(tokenHash: string): Promise<string | undefined>;
  /** Whether any factory holds an active token: then factories must use theirs. */
  anyEnrolled(): Promise<boolean>;
  enrollments(): Promise<EnrollmentView[]>;
  /** Revokes the factory's tokens and fences its leases (its jobs go back to the queue); answers those jobs. */
  revoke(factoryId: string): Promise<{ revoked: number; fencedJobs: string[] }>;
  /** Whether this factory was granted the job under this epoch (runs are never rewritten, so this cannot change later). */
  wasGranted(jobId: string, leaseEpoch: number, factoryId: string): Promise<boolean>;
  /** The operator's cancel: `cancelled`, epoch raised (the holder is fenced), lease and run ended. */
  cancel(id: string): Promise<CancelOutcome>;
  /** What queued jobs require, and what live fleet factories (seen within `liveWithinMs`, not draining) offer. */
  waitingDemand(liveWithinMs: number): Promise<WaitingDemand>;
  /** Records a stage a shadow factory saw one of its local jobs reach. */
  observe(input: ObservedInput): Promise<void>;
  /** The newest observed stages, oldest first. */
  observedEvents(): Promise<ObservedEvent[]>;
  /** One round trip to the database: throws when it does not answer. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Queued jobs no live fleet factory can take: a group whose requires no live factory's
 * capabilities cover (with no live factory at all, every queued job waits).
 */
export function uncovered(demand: WaitingDemand): Array<{ requires: string[]; jobs: number; missing: string[] }> {
  const waiting: Array<{ requires: string[]; jobs: number; missing: string[] }> = [];
  for (const group of demand.groups) {
    if (demand.live.some((caps) => group.requires.every((cap) => caps.includes(cap)))) continue;
    const offered = new Set(demand.live.flat());
    waiting.push({ ...group, missing: group.requires.filter((cap) => !offered.has(cap)) });
  }
  return waiting;
}

export interface OpenOptions {
  readonly leaseMs: number;
  /** Connections per process, for a store that pools them. */
  readonly pool?: number | undefined;
}

export interface Migrated {
  readonly engine: string;
  readonly applied: number[];
  readonly current: number;
}

/** One kind of store, as stores.ts lists it: which databases it takes, how it opens and migrates one. */
export interface StoreEngine {
  readonly name: string;
  /** Opens the store `db` names, migrating it to the current schema first. */
  open(db: string, options: OpenOptions): Promise<FleetStore>;
  /** Applies pending migrations to `db` and answers the versions applied now. */
  migrate(db: string): Promise<Migrated>;
}
