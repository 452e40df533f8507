import type { Checkpoint } from "../contract/fleet.ts";
import {
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
import type { Sql } from "./postgres-connect.ts";
import { toEvent, toObserved, toRun } from "./rows.ts";

export type Row = Record<string, unknown>;

/** What the PostgreSQL store answers without changing anything: the views, and whether a claim may find more. */
export class PostgresViews {
  protected readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  async tokenFactory(tokenHash: string): Promise<string | undefined> {
    const [row] = await this.sql<
      Array<{ factory_id: string }>
    >`SELECT factory_id FROM enrollments WHERE token_hash = ${tokenHash} AND revoked_at IS NULL`;
    return row?.factory_id;
  }

  async anyEnrolled(): Promise<boolean> {
    const rows = await this.sql`SELECT 1 FROM enrollments WHERE revoked_at IS NULL LIMIT 1`;
    return rows.length > 0;
  }

  async enrollments(): Promise<EnrollmentView[]> {
    const rows = await this.sql<
      Row[]
    >`SELECT factory_id, created_at, revoked_at FROM enrollments ORDER BY factory_id, created_at`;
    return rows.map((row) => ({
      factoryId: String(row.factory_id),
      enrolledAt: new Date(Number(row.created_at)).toISOString(),
      revokedAt: row.revoked_at === null ? null : new Date(Number(row.revoked_at)).toISOString(),
    }));
  }

  async wasGranted(jobId: string, leaseEpoch: number, factoryId: string): Promise<boolean> {
    const rows = await this
      .sql`SELECT 1 FROM runs WHERE job_id = ${jobId} AND lease_epoch = ${leaseEpoch}::bigint AND factory_id = ${factoryId}`;
    return rows.length > 0;
  }

  async ping(): Promise<void> {
    await this.sql`SELECT 1`;
  }

  async job(id: string): Promise<CoordinatorJob | undefined> {
    const rows = await this.sql<
      Row[]
    >`SELECT j.*, l.expires_at FROM jobs j LEFT JOIN leases l ON l.job_id = j.id WHERE j.id = ${id}`;
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  async jobs(): Promise<CoordinatorJob[]> {
    const rows = await this.sql<
      Row[]
    >`SELECT j.*, l.expires_at FROM jobs j LEFT JOIN leases l ON l.job_id = j.id ORDER BY j.created_at, j.id`;
    return rows.map(toJob);
  }

  async factories(): Promise<FactoryView[]> {
    const rows = await this.sql<Row[]>`SELECT * FROM factories ORDER BY id`;
    return rows.map((row) => ({
      id: String(row.id),
      capabilities: row.capabilities as string[],
      health: String(row.health),
      load: Number(row.load),
      lastSeen: new Date(Number(row.last_seen)).toISOString(),
      heartbeats: Number(row.heartbeats),
      mode: String(row.mode) as FactoryMode,
    }));
  }

  async waitingDemand(liveWithinMs: number): Promise<WaitingDemand> {
    const groups = await this.sql<
      Array<{ requires: string[]; jobs: number }>
    >`SELECT requires, count(*) AS jobs FROM jobs WHERE stage = 'queued' GROUP BY requires`;
    const live = await this.sql<Array<{ capabilities: string[] }>>`
      SELECT capabilities FROM factories WHERE mode = 'fleet' AND health <> 'draining' AND last_seen >= aq_now() - ${liveWithinMs}::bigint`;
    return {
      groups: groups.map((row) => ({ requires: row.requires, jobs: Number(row.jobs) })),
      live: live.map((row) => row.capabilities),
    };
  }

  async observedEvents(): Promise<ObservedEvent[]> {
    const rows = await this.sql<Row[]>`SELECT * FROM observed_events ORDER BY id DESC LIMIT ${OBSERVED_LIMIT}`;
    return rows.reverse().map(toObserved);
  }

  protected async anyClaimable(caps: string[]): Promise<boolean> {
    const [row] = await this.sql<Array<{ any: boolean }>>`
      SELECT EXISTS (SELECT 1 FROM jobs WHERE stage = 'queued' AND requires <@ ${caps}::text[])
        OR EXISTS (SELECT 1 FROM leases l JOIN jobs j ON j.id = l.job_id
          WHERE l.expires_at < aq_now() AND j.stage NOT IN ('shipped', 'failed', 'blocked') AND j.requires <@ ${caps}::text[]) AS any`;
    return Boolean(row?.any);
  }

  async runs(id: string): Promise<RunView[]> {
    const rows = await this.sql<Row[]>`SELECT * FROM runs WHERE job_id = ${id} ORDER BY id`;
    return rows.map(toRun);
  }

  async events(id?: string): Promise<FleetEvent[]> {
    const rows =
      id === undefined
        ? await this.sql<Row[]>`SELECT * FROM events ORDER BY id`
        : await this.sql<Row[]>`SELECT * FROM events WHERE job_id = ${id} ORDER BY id`;
    return rows.map(toEvent);
  }
}

export function toJob(row: Row): CoordinatorJob {
  return {
    id: String(row.id),
    title: row.title === null ? null : String(row.title),
    bodyMd: String(row.body_md),
    options: (row.options ?? {}) as Record<string, unknown>,
    requires: (row.requires ?? []) as string[],
    priority: Number(row.priority),
    stage: String(row.stage),
    leaseEpoch: Number(row.lease_epoch),
    factoryId: row.factory_id === null ? null : String(row.factory_id),
    leaseExpiresAt: row.expires_at === null || row.expires_at === undefined ? null : Number(row.expires_at),
    checkpoint: row.checkpoint === null ? null : (row.checkpoint as Checkpoint),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}
