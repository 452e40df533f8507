import type { Checkpoint } from "../contract/fleet.ts";
import {
  CLAIMABLE_CAP,
  type CoordinatorJob,
  type EnrollmentView,
  type FactoryMode,
  type FactoryView,
  type FleetEvent,
  OBSERVED_LIMIT,
  type ObservedEvent,
  type RunView,
  type WaitingDemand,
} from "./fleet-store.ts";
import { toEvent, toObserved, toRun } from "./rows.ts";
import type { SqliteDb } from "./sqlite-db.ts";

/** What the SQLite store answers without changing anything: the views, and the claim's candidates. */
export class SqliteViews {
  protected readonly db: SqliteDb;

  constructor(db: SqliteDb) {
    this.db = db;
  }

  job(id: string): CoordinatorJob | undefined {
    const row = this.db.stmt("SELECT * FROM jobs WHERE id = ?").get(id) as Record<string, unknown> | undefined;
    return row ? toJob(row) : undefined;
  }

  jobs(): CoordinatorJob[] {
    return (this.db.stmt("SELECT * FROM jobs ORDER BY created_at, id").all() as Record<string, unknown>[]).map(toJob);
  }

  factories(): FactoryView[] {
    return (this.db.stmt("SELECT * FROM factories ORDER BY id").all() as Record<string, unknown>[]).map((row) => ({
      id: String(row.id),
      capabilities: JSON.parse(String(row.capabilities)) as string[],
      health: String(row.health),
      load: Number(row.load),
      lastSeen: new Date(Number(row.last_seen)).toISOString(),
      heartbeats: Number(row.heartbeats),
      mode: String(row.mode) as FactoryMode,
    }));
  }

  /** The requires of queued jobs, grouped, and the capabilities of factories that could take them (seen within `liveWithinMs`, not shadow, not draining). */
  waitingDemand(liveWithinMs: number): WaitingDemand {
    const groups = (
      this.db
        .stmt("SELECT requires, count(*) AS jobs FROM jobs WHERE stage = 'queued' GROUP BY requires")
        .all() as Array<{
        requires: string;
        jobs: number;
      }>
    ).map((row) => ({
      requires: JSON.parse(row.requires) as string[],
      jobs: Number(row.jobs),
    }));
    const live = (
      this.db
        .stmt("SELECT capabilities FROM factories WHERE mode = 'fleet' AND health != 'draining' AND last_seen >= ?")
        .all(this.db.now() - liveWithinMs) as Array<{ capabilities: string }>
    ).map((row) => JSON.parse(row.capabilities) as string[]);
    return { groups, live };
  }

  /** The newest observed stages (at most OBSERVED_LIMIT), oldest first. */
  observedEvents(): ObservedEvent[] {
    const rows = this.db.stmt("SELECT * FROM observed_events ORDER BY id DESC LIMIT ?").all(OBSERVED_LIMIT) as Record<
      string,
      unknown
    >[];
    return rows.reverse().map(toObserved);
  }

  /**
   * The first job a factory with these capabilities may take now: queued, or held under an
   * expired lease; highest priority, then oldest. Rows are read lazily through indexes and the
   * scan stops at the first match, so a large queue costs a claim almost nothing.
   */
  protected nextClaimable(capabilities: readonly string[]): CoordinatorJob | undefined {
    const have = new Set(capabilities);
    const fits = (row: Record<string, unknown>) =>
      row.requires === "[]" || (JSON.parse(String(row.requires)) as string[]).every((cap) => have.has(cap));
    const first = (rows: Iterable<unknown>) => {
      for (const row of rows as Iterable<Record<string, unknown>>) if (fits(row)) return toJob(row);
      return undefined;
    };
    const queued = first(
      this.db.stmt("SELECT * FROM jobs WHERE stage = 'queued' ORDER BY priority DESC, created_at, id").iterate(),
    );
    const expired = first(
      this.db
        .prepare(
          "SELECT * FROM jobs WHERE lease_expires_at IS NOT NULL AND lease_expires_at < ? AND stage NOT IN ('shipped', 'failed', 'blocked') ORDER BY priority DESC, created_at, id",
        )
        .iterate(this.db.now()),
    );
    if (!queued || !expired) return queued ?? expired;
    const before =
      expired.priority > queued.priority ||
      (expired.priority === queued.priority &&
        (expired.createdAt < queued.createdAt || (expired.createdAt === queued.createdAt && expired.id < queued.id)));
    return before ? expired : queued;
  }

  /**
   * How many jobs this factory could claim now, for its heartbeat's answer: counted up to
   * CLAIMABLE_CAP through the indexes, so a heartbeat stays cheap however long the queue is.
   */
  protected claimableCount(capabilities: readonly string[]): number {
    const caps = JSON.stringify(capabilities);
    const fits =
      "(requires = '[]' OR NOT EXISTS (SELECT 1 FROM json_each(jobs.requires) need WHERE need.value NOT IN (SELECT value FROM json_each(?))))";
    const row = this.db
      .stmt(
        `SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE stage = 'queued' AND ${fits} LIMIT ?))
            + (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE lease_expires_at IS NOT NULL AND lease_expires_at < ? AND stage NOT IN ('shipped', 'failed', 'blocked') AND ${fits} LIMIT ?)) AS n`,
      )
      .get(caps, CLAIMABLE_CAP, this.db.now(), caps, CLAIMABLE_CAP) as { n: number };
    return Math.min(CLAIMABLE_CAP, Number(row.n));
  }

  runs(id: string): RunView[] {
    return (this.db.stmt("SELECT * FROM runs WHERE job_id = ? ORDER BY id").all(id) as Record<string, unknown>[]).map(
      toRun,
    );
  }

  events(id?: string): FleetEvent[] {
    const rows = (
      id === undefined
        ? this.db.stmt("SELECT * FROM events ORDER BY id").all()
        : this.db.stmt("SELECT * FROM events WHERE job_id = ? ORDER BY id").all(id)
    ) as Record<string, unknown>[];
    return rows.map(toEvent);
  }

  tokenFactory(tokenHash: string): string | undefined {
    const row = this.db
      .stmt("SELECT factory_id FROM enrollments WHERE token_hash = ? AND revoked_at IS NULL")
      .get(tokenHash) as { factory_id: string } | undefined;
    return row?.factory_id;
  }

  anyEnrolled(): boolean {
    return this.db.stmt("SELECT 1 FROM enrollments WHERE revoked_at IS NULL LIMIT 1").get() !== undefined;
  }

  enrollments(): EnrollmentView[] {
    return (
      this.db
        .stmt("SELECT factory_id, created_at, revoked_at FROM enrollments ORDER BY factory_id, created_at")
        .all() as Record<string, unknown>[]
    ).map((row) => ({
      factoryId: String(row.factory_id),
      enrolledAt: new Date(Number(row.created_at)).toISOString(),
      revokedAt: row.revoked_at === null ? null : new Date(Number(row.revoked_at)).toISOString(),
    }));
  }

  wasGranted(jobId: string, leaseEpoch: number, factoryId: string): boolean {
    return (
      this.db
        .stmt("SELECT 1 FROM runs WHERE job_id = ? AND lease_epoch = ? AND factory_id = ?")
        .get(jobId, leaseEpoch, factoryId) !== undefined
    );
  }
}

export function toJob(row: Record<string, unknown>): CoordinatorJob {
  return {
    id: String(row.id),
    title: row.title === null ? null : String(row.title),
    bodyMd: String(row.body_md),
    options: JSON.parse(String(row.options)) as Record<string, unknown>,
    requires: JSON.parse(String(row.requires)) as string[],
    priority: Number(row.priority),
    stage: String(row.stage),
    leaseEpoch: Number(row.lease_epoch),
    factoryId: row.factory_id === null ? null : String(row.factory_id),
    leaseExpiresAt: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
    checkpoint: row.checkpoint === null ? null : (JSON.parse(String(row.checkpoint)) as Checkpoint),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
