import { randomBytes } from "node:crypto";
import type postgres from "postgres";
import type { Checkpoint, FleetStage } from "../contract/fleet.ts";
import {
  type CancelOutcome,
  CLAIMABLE_CAP,
  type CoordinatorJob,
  type EnqueueInput,
  type FleetStore,
  type HeartbeatInput,
  type LeaseState,
  type ObservedInput,
  type OpenOptions,
  type Outcome,
  type StoreEngine,
} from "./fleet-store.ts";
import { applyPostgresMigrations } from "./migrations/postgres.ts";
import { connectPostgres, migratePostgres, type Sql } from "./postgres-connect.ts";
import { PostgresViews, type Row, toJob } from "./postgres-views.ts";

/** A postgres:// URL: any number of coordinator processes over one database. */
export const POSTGRES_STORE: StoreEngine = {
  name: "postgres",
  open: (db, options) => PostgresStore.open(db, options),
  migrate: (db) => migratePostgres(db),
};

const TERMINAL = new Set(["shipped", "failed", "blocked"]);
/** A claim that found nothing while a claimable row was locked by a concurrent claim tries again, this often. */
const CLAIM_ATTEMPTS = 8;

/**
 * The coordinator's state machine in PostgreSQL, for a fleet past one machine: any number of
 * coordinator processes share one database. Each fenced change is one statement (data-modifying
 * CTEs), so the epoch check, the change, the run and the event commit together or not at all.
 * The schema is migrations/postgres.ts; the reads are PostgresViews.
 */
export class PostgresStore extends PostgresViews implements FleetStore {
  readonly engine = "postgres";
  readonly leaseMs: number;

  private constructor(sql: Sql, leaseMs: number) {
    super(sql);
    this.leaseMs = leaseMs;
  }

  static async open(url: string, options: OpenOptions): Promise<PostgresStore> {
    const sql = connectPostgres(url, options.pool ?? 10);
    try {
      await applyPostgresMigrations(sql);
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw error;
    }
    return new PostgresStore(sql, options.leaseMs);
  }

  async enroll(factoryId: string, tokenHash: string): Promise<void> {
    await this.sql`
      WITH earlier AS (UPDATE enrollments SET revoked_at = aq_now() WHERE factory_id = ${factoryId} AND revoked_at IS NULL)
      INSERT INTO enrollments (token_hash, factory_id, created_at) VALUES (${tokenHash}, ${factoryId}, aq_now())`;
  }

  /** One statement: revoke the tokens, hand every job the factory holds back (a finished one stays finished), end its runs, log it. */
  async revoke(factoryId: string): Promise<{ revoked: number; fencedJobs: string[] }> {
    const [row] = await this.sql<Array<{ revoked: number; jobs: string[] }>>`
      WITH revoked AS (
        UPDATE enrollments SET revoked_at = aq_now() WHERE factory_id = ${factoryId} AND revoked_at IS NULL RETURNING 1
      ), held AS (
        UPDATE jobs j SET factory_id = NULL, stage = CASE WHEN j.stage IN ('shipped', 'failed', 'blocked') THEN j.stage ELSE 'queued' END, updated_at = aq_now()
        WHERE j.factory_id = ${factoryId} RETURNING j.id, j.stage, j.lease_epoch
      ), gone AS (
        DELETE FROM leases l USING held WHERE l.job_id = held.id
      ), ended AS (
        UPDATE runs r SET ended_at = aq_now(), outcome = COALESCE(r.outcome, 'revoked') FROM held
        WHERE r.job_id = held.id AND r.lease_epoch = held.lease_epoch AND r.ended_at IS NULL
      ), logged AS (
        INSERT INTO events (job_id, at, type, factory_id, lease_epoch, stage, detail)
        SELECT id, aq_now(), 'revoked', ${factoryId}::text, lease_epoch, stage, 'the factory''s enrollment was revoked' FROM held
      )
      SELECT (SELECT count(*) FROM revoked) AS revoked, ARRAY(SELECT id FROM held ORDER BY id) AS jobs`;
    return { revoked: Number(row!.revoked), fencedJobs: row!.jobs };
  }

  async close(): Promise<void> {
    await this.sql.end({ timeout: 5 });
  }

  async enqueue(input: EnqueueInput): Promise<CoordinatorJob | undefined> {
    const id = input.id ?? `fj-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
    const rows = await this.sql<Row[]>`
      WITH added AS (
        INSERT INTO jobs (id, title, body_md, options, requires, priority, created_at, updated_at)
        VALUES (${id}, ${input.title ?? null}, ${input.bodyMd}, ${this.sql.json((input.options ?? {}) as postgres.JSONValue)}::jsonb, ${input.requires ?? []}::text[], ${input.priority ?? 0}, aq_now(), aq_now())
        ON CONFLICT (id) DO NOTHING
        RETURNING *
      ), logged AS (
        INSERT INTO events (job_id, at, type, stage) SELECT id, aq_now(), 'enqueued', 'queued' FROM added
      )
      SELECT *, NULL::bigint AS expires_at FROM added`;
    return rows[0] ? toJob(rows[0]) : undefined;
  }

  /** Registers the factory and counts what it could claim, up to CLAIMABLE_CAP, through the claim paths' own indexes. */
  async heartbeat(input: HeartbeatInput): Promise<{ claimable: number }> {
    const mode = input.mode ?? "fleet";
    if (mode === "shadow") {
      await this.sql`
        INSERT INTO factories (id, capabilities, health, load, first_seen, last_seen, heartbeats, mode)
        VALUES (${input.factoryId}, ${input.capabilities}::text[], ${input.health}, ${input.load}, aq_now(), aq_now(), 1, 'shadow')
        ON CONFLICT (id) DO UPDATE SET capabilities = EXCLUDED.capabilities, health = EXCLUDED.health, load = EXCLUDED.load,
          last_seen = EXCLUDED.last_seen, heartbeats = factories.heartbeats + 1, mode = 'shadow'`;
      return { claimable: 0 };
    }
    const [row] = await this.sql<Array<{ claimable: number }>>`
      WITH beat AS (
        INSERT INTO factories (id, capabilities, health, load, first_seen, last_seen, heartbeats, mode)
        VALUES (${input.factoryId}, ${input.capabilities}::text[], ${input.health}, ${input.load}, aq_now(), aq_now(), 1, 'fleet')
        ON CONFLICT (id) DO UPDATE SET capabilities = EXCLUDED.capabilities, health = EXCLUDED.health, load = EXCLUDED.load,
          last_seen = EXCLUDED.last_seen, heartbeats = factories.heartbeats + 1, mode = 'fleet'
      )
      SELECT LEAST(${CLAIMABLE_CAP}::bigint,
        (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE stage = 'queued' AND requires <@ ${input.capabilities}::text[]
           ORDER BY priority DESC, created_at, id LIMIT ${CLAIMABLE_CAP}) queued)
        + (SELECT count(*) FROM (SELECT 1 FROM leases l JOIN jobs j ON j.id = l.job_id
           WHERE l.expires_at < aq_now() AND j.stage NOT IN ('shipped', 'failed', 'blocked') AND j.requires <@ ${input.capabilities}::text[]
           LIMIT ${CLAIMABLE_CAP}) expired)) AS claimable`;
    return { claimable: Number(row!.claimable) };
  }

  /** One statement: the job row is locked, moved to `cancelled` under a raised epoch, its lease row deleted, its open run ended, the event logged. */
  async cancel(id: string): Promise<CancelOutcome> {
    const [row] = await this.sql<
      Array<{ was_stage: string; was_factory: string | null; was_epoch: number; done: boolean }>
    >`
      WITH cur AS (
        SELECT id, stage, lease_epoch, factory_id FROM jobs WHERE id = ${id} FOR UPDATE
      ), up AS (
        UPDATE jobs j SET stage = 'cancelled', lease_epoch = cur.lease_epoch + 1, factory_id = NULL, updated_at = aq_now()
        FROM cur WHERE j.id = cur.id AND cur.stage NOT IN ('shipped', 'failed', 'cancelled')
        RETURNING j.id, j.lease_epoch
      ), gone AS (
        DELETE FROM leases l USING up WHERE l.job_id = up.id
      ), ended AS (
        UPDATE runs r SET ended_at = aq_now(), outcome = 'cancelled' FROM up WHERE r.job_id = up.id AND r.ended_at IS NULL
      ), logged AS (
        INSERT INTO events (job_id, at, type, factory_id, lease_epoch, stage, detail)
        SELECT up.id, aq_now(), 'cancelled', cur.factory_id, up.lease_epoch, 'cancelled',
          CASE WHEN cur.factory_id IS NULL THEN NULL ELSE 'holder ' || cur.factory_id || ' fenced at lease ' || cur.lease_epoch END
        FROM up, cur
      )
      SELECT cur.stage AS was_stage, cur.factory_id AS was_factory, cur.lease_epoch AS was_epoch, (up.id IS NOT NULL) AS done FROM cur LEFT JOIN up ON up.id = cur.id`;
    if (!row) return { ok: false, reason: "missing" };
    if (!row.done) return { ok: false, reason: "finished", stage: row.was_stage };
    return { ok: true, job: (await this.job(id))!, holder: row.was_factory };
  }

  async observe(input: ObservedInput): Promise<void> {
    await this
      .sql`INSERT INTO observed_events (factory_id, job_id, title, stage, at) VALUES (${input.factoryId}, ${input.jobId}, ${input.title ?? null}, ${input.stage}, aq_now())`;
  }

  /**
   * One statement: lock the best queued job and the best job under an expired lease (SKIP
   * LOCKED: rows another coordinator is claiming are passed over, not waited for), take the
   * better of the two, raise its epoch, (re)write its lease, end the expired run, start this run
   * and log the events. When it finds nothing but a claimable row exists (a concurrent claim had
   * it locked and took the other), it tries again: "nothing to do" is only said when true.
   */
  async claim(
    factoryId: string,
    capabilities: readonly string[],
  ): Promise<{ job: CoordinatorJob; reclaimed: boolean } | undefined> {
    const caps = [...capabilities];
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const rows = await this.sql<Row[]>`
        WITH queued AS (
          SELECT j.id, j.priority, j.created_at, j.stage, j.factory_id, false AS reclaimed FROM jobs j
          WHERE j.stage = 'queued' AND j.requires <@ ${caps}::text[]
          ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), expired AS (
          SELECT j.id, j.priority, j.created_at, j.stage, j.factory_id, true AS reclaimed FROM leases l JOIN jobs j ON j.id = l.job_id
          WHERE l.expires_at < aq_now() AND j.stage NOT IN ('shipped', 'failed', 'blocked') AND j.requires <@ ${caps}::text[]
          ORDER BY j.priority DESC, j.created_at, j.id LIMIT 1 FOR UPDATE OF j, l SKIP LOCKED
        ), pick AS (
          SELECT * FROM (SELECT * FROM queued UNION ALL SELECT * FROM expired) candidates ORDER BY priority DESC, created_at, id LIMIT 1
        ), taken AS (
          UPDATE jobs j SET lease_epoch = j.lease_epoch + 1, stage = 'assigned', factory_id = ${factoryId}::text, updated_at = aq_now()
          FROM pick WHERE j.id = pick.id
          RETURNING j.*, pick.reclaimed, pick.stage AS old_stage, pick.factory_id AS old_factory
        ), lease AS (
          INSERT INTO leases (job_id, factory_id, epoch, expires_at) SELECT id, ${factoryId}::text, lease_epoch, aq_now() + ${this.leaseMs}::bigint FROM taken
          ON CONFLICT (job_id) DO UPDATE SET factory_id = EXCLUDED.factory_id, epoch = EXCLUDED.epoch, expires_at = EXCLUDED.expires_at
          RETURNING expires_at
        ), ended AS (
          UPDATE runs r SET ended_at = aq_now(), outcome = 'lease-expired' FROM taken WHERE taken.reclaimed AND r.job_id = taken.id AND r.ended_at IS NULL
        ), started AS (
          INSERT INTO runs (job_id, factory_id, lease_epoch, started_at) SELECT id, ${factoryId}::text, lease_epoch, aq_now() FROM taken
        ), logged AS (
          INSERT INTO events (job_id, at, type, factory_id, lease_epoch, stage)
          SELECT id, aq_now(), type, holder, epoch, stage FROM (
            SELECT id, 1 AS n, 'lease-expired' AS type, old_factory AS holder, lease_epoch - 1 AS epoch, old_stage AS stage FROM taken WHERE reclaimed
            UNION ALL
            SELECT id, 2, CASE WHEN reclaimed THEN 'reclaimed' ELSE 'claimed' END, ${factoryId}::text, lease_epoch, 'assigned' FROM taken
          ) claim_events ORDER BY n
        )
        SELECT taken.*, lease.expires_at FROM taken, lease`;
      if (rows[0]) return { job: toJob(rows[0]), reclaimed: Boolean(rows[0].reclaimed) };
      if (!(await this.anyClaimable(caps))) return undefined;
    }
    return undefined;
  }

  async report(
    id: string,
    input: { stage: FleetStage; checkpoint?: Checkpoint | undefined; leaseEpoch: number },
  ): Promise<Outcome<LeaseState>> {
    const detail = input.checkpoint ? JSON.stringify(input.checkpoint) : null;
    const checkpoint = input.checkpoint ? this.sql.json(input.checkpoint as postgres.JSONValue) : null;
    const rows = await this.sql<Row[]>`
      WITH up AS (
        UPDATE jobs SET stage = ${input.stage}::text, checkpoint = COALESCE(${checkpoint}::jsonb, checkpoint), updated_at = aq_now()
        WHERE id = ${id} AND lease_epoch = ${input.leaseEpoch}::bigint AND factory_id IS NOT NULL
        RETURNING id, stage, lease_epoch, factory_id
      ), last AS (
        SELECT lease_epoch, stage, detail FROM events WHERE job_id = ${id} AND type = 'stage' ORDER BY id DESC LIMIT 1
      ), logged AS (
        -- A report delivered twice (its answer lost with a coordinator that died) is one event, not two.
        INSERT INTO events (job_id, at, type, factory_id, lease_epoch, stage, detail) SELECT id, aq_now(), 'stage', factory_id, lease_epoch, stage, ${detail}::text FROM up
        WHERE NOT EXISTS (SELECT 1 FROM last WHERE last.lease_epoch = up.lease_epoch AND last.stage = up.stage AND last.detail IS NOT DISTINCT FROM ${detail}::text)
      ), ended AS (
        UPDATE runs r SET ended_at = aq_now(), outcome = up.stage FROM up
        WHERE ${TERMINAL.has(input.stage)}::boolean AND r.job_id = up.id AND r.lease_epoch = up.lease_epoch AND r.ended_at IS NULL
      )
      SELECT up.*, l.expires_at FROM up LEFT JOIN leases l ON l.job_id = up.id`;
    if (rows[0]) return { ok: true, value: leaseOf(rows[0]) };
    return this.fenced(id, input.leaseEpoch, input.stage, (current) =>
      current.factoryId === null && current.leaseEpoch === input.leaseEpoch
        ? `lease ${input.leaseEpoch} was released`
        : `stale epoch ${input.leaseEpoch}; current ${current.leaseEpoch}`,
    );
  }

  /** Rewrites one narrow lease row (a HOT update: no index holds its expiry); the job row is not touched. */
  async renew(id: string, leaseEpoch: number): Promise<Outcome<LeaseState>> {
    const rows = await this.sql<Row[]>`
      WITH up AS (
        UPDATE leases l SET expires_at = aq_now() + ${this.leaseMs}::bigint FROM jobs j
        WHERE l.job_id = ${id} AND l.epoch = ${leaseEpoch}::bigint AND j.id = l.job_id AND j.stage NOT IN ('shipped', 'failed', 'blocked')
        RETURNING l.job_id, l.factory_id, l.epoch AS lease_epoch, l.expires_at, j.stage
      ), last AS (
        SELECT type, lease_epoch FROM events WHERE job_id = ${id} ORDER BY id DESC LIMIT 1
      ), logged AS (
        INSERT INTO events (job_id, at, type, factory_id, lease_epoch)
        SELECT job_id, aq_now(), 'renewed', factory_id, lease_epoch FROM up
        WHERE NOT EXISTS (SELECT 1 FROM last WHERE last.type = 'renewed' AND last.lease_epoch = up.lease_epoch)
      )
      SELECT * FROM up`;
    if (rows[0]) return { ok: true, value: leaseOf(rows[0]) };
    return this.fenced(
      id,
      leaseEpoch,
      null,
      (current) => `renew with stale epoch ${leaseEpoch}; current ${current.leaseEpoch}`,
    );
  }

  /** The job row is locked first (as a claim does), then its lease row is deleted. */
  async release(id: string, leaseEpoch: number): Promise<Outcome<LeaseState>> {
    const rows = await this.sql<Row[]>`
      WITH up AS (
        UPDATE jobs j SET factory_id = NULL, stage = CASE WHEN j.stage IN ('shipped', 'failed', 'blocked') THEN j.stage ELSE 'queued' END, updated_at = aq_now()
        WHERE j.id = ${id} AND j.lease_epoch = ${leaseEpoch}::bigint AND j.factory_id IS NOT NULL
        RETURNING j.id, j.stage, j.lease_epoch
      ), gone AS (
        DELETE FROM leases l USING up WHERE l.job_id = up.id RETURNING l.factory_id
      ), ended AS (
        UPDATE runs r SET ended_at = aq_now(), outcome = COALESCE(r.outcome, 'released') FROM up
        WHERE r.job_id = up.id AND r.lease_epoch = up.lease_epoch AND r.ended_at IS NULL
      ), logged AS (
        INSERT INTO events (job_id, at, type, factory_id, lease_epoch, stage) SELECT up.id, aq_now(), 'released', gone.factory_id, up.lease_epoch, up.stage FROM up, gone
      )
      SELECT up.id, up.stage, up.lease_epoch, NULL::text AS factory_id, NULL::bigint AS expires_at FROM up`;
    if (rows[0]) return { ok: true, value: leaseOf(rows[0]) };
    return this.fenced(
      id,
      leaseEpoch,
      null,
      (current) => `release with stale epoch ${leaseEpoch}; current ${current.leaseEpoch}`,
    );
  }

  /** A refused change: "missing", or "stale" with a fenced event naming the current epoch. */
  private async fenced(
    id: string,
    leaseEpoch: number,
    stage: string | null,
    detail: (current: { leaseEpoch: number; factoryId: string | null }) => string,
  ): Promise<Outcome<LeaseState>> {
    const [row] = await this.sql<
      Array<{ lease_epoch: number; factory_id: string | null }>
    >`SELECT lease_epoch, factory_id FROM jobs WHERE id = ${id}`;
    if (!row) return { ok: false, reason: "missing" };
    const current = { leaseEpoch: Number(row.lease_epoch), factoryId: row.factory_id };
    await this
      .sql`INSERT INTO events (job_id, at, type, factory_id, lease_epoch, stage, detail) VALUES (${id}, aq_now(), 'fenced', NULL, ${leaseEpoch}::bigint, ${stage}::text, ${detail(current)})`;
    return { ok: false, reason: "stale", currentEpoch: current.leaseEpoch };
  }

  async pruneEvents(before: number): Promise<number> {
    const gone = await this.sql`
      DELETE FROM events e USING jobs j
      WHERE e.at < ${before}::bigint AND j.id = e.job_id AND j.stage IN ('shipped', 'failed', 'blocked', 'cancelled') AND j.factory_id IS NULL`;
    const observed = await this.sql`DELETE FROM observed_events WHERE at < ${before}::bigint`;
    return gone.count + observed.count;
  }
}

function leaseOf(row: Row): LeaseState {
  return {
    stage: String(row.stage),
    leaseEpoch: Number(row.lease_epoch),
    factoryId: row.factory_id === null || row.factory_id === undefined ? null : String(row.factory_id),
    leaseExpiresAt: row.expires_at === null || row.expires_at === undefined ? null : Number(row.expires_at),
  };
}
