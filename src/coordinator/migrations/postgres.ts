import type postgres from "postgres";

/**
 * The PostgreSQL store's schema, as numbered steps applied in order (all pending steps in one
 * transaction, under a transaction-scoped advisory lock) and recorded in aq_migrations. Never
 * edit a released step: add the next one.
 *
 * Shape, for a fleet under churn: a job row changes on claim, report and release only; the lease
 * (holder, epoch, expiry) lives in a narrow table without a secondary index, so a renewal is a
 * HOT update of one small row. Only queued jobs are in the claim index, and only held jobs have a
 * lease row, so finished jobs cost a claim nothing. Times are ms since the epoch on the
 * database's clock (aq_now()), never a coordinator process's.
 */
export const POSTGRES_MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: "jobs, leases, factories, runs, events",
    sql: `
CREATE FUNCTION aq_now() RETURNS bigint LANGUAGE sql VOLATILE AS $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;
CREATE TABLE jobs (
  id text PRIMARY KEY, title text, body_md text NOT NULL, options jsonb NOT NULL DEFAULT '{}',
  requires text[] NOT NULL DEFAULT '{}', priority integer NOT NULL DEFAULT 0,
  stage text NOT NULL DEFAULT 'queued', lease_epoch bigint NOT NULL DEFAULT 0,
  factory_id text, checkpoint jsonb, created_at bigint NOT NULL, updated_at bigint NOT NULL
);
CREATE INDEX jobs_queued ON jobs (priority DESC, created_at, id) WHERE stage = 'queued';
CREATE TABLE leases (
  job_id text PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  factory_id text NOT NULL, epoch bigint NOT NULL, expires_at bigint NOT NULL
) WITH (fillfactor = 50);
CREATE TABLE factories (
  id text PRIMARY KEY, capabilities text[] NOT NULL, health text NOT NULL, load double precision NOT NULL,
  first_seen bigint NOT NULL, last_seen bigint NOT NULL, heartbeats bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 50);
CREATE TABLE runs (
  id bigserial PRIMARY KEY, job_id text NOT NULL, factory_id text NOT NULL, lease_epoch bigint NOT NULL,
  started_at bigint NOT NULL, ended_at bigint, outcome text
);
CREATE INDEX runs_job ON runs (job_id, id);
CREATE TABLE events (
  id bigserial PRIMARY KEY, job_id text NOT NULL, at bigint NOT NULL, type text NOT NULL,
  factory_id text, lease_epoch bigint, stage text, detail text
);
CREATE INDEX events_job ON events (job_id, id);
CREATE INDEX events_at ON events (at);
`,
  },
  {
    version: 2,
    name: "enrolled factories: one hashed token each",
    sql: `
CREATE TABLE enrollments (
  token_hash text PRIMARY KEY, factory_id text NOT NULL, created_at bigint NOT NULL, revoked_at bigint
);
CREATE INDEX enrollments_factory ON enrollments (factory_id);
`,
  },
  {
    version: 3,
    name: "a factory's mode (fleet or shadow); stages observed on shadow factories",
    sql: `
ALTER TABLE factories ADD COLUMN mode text NOT NULL DEFAULT 'fleet';
CREATE TABLE observed_events (
  id bigserial PRIMARY KEY, factory_id text NOT NULL, job_id text NOT NULL,
  title text, stage text NOT NULL, at bigint NOT NULL
);
CREATE INDEX observed_job ON observed_events (factory_id, job_id, id);
`,
  },
];

/** pg_advisory_xact_lock key that serializes migrations of one database ("aqmigr"). */
const MIGRATION_LOCK = 0x61716d696772;

/** Brings the database to the newest version in one transaction, under the advisory lock; answers the versions applied. */
export async function applyPostgresMigrations(
  sql: postgres.Sql<{ bigint: number }>,
): Promise<{ applied: number[]; current: number }> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS aq_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
    const done = new Set(
      (await tx<Array<{ version: number }>>`SELECT version FROM aq_migrations`).map((row) => Number(row.version)),
    );
    const known = POSTGRES_MIGRATIONS.at(-1)!.version;
    const newest = Math.max(known, ...done);
    if (newest > known)
      throw new Error(`the coordinator database is at schema version ${newest}, newer than this aq knows (${known})`);
    const applied: number[] = [];
    for (const step of POSTGRES_MIGRATIONS) {
      if (done.has(step.version)) continue;
      await tx.unsafe(step.sql);
      await tx`INSERT INTO aq_migrations (version, name) VALUES (${step.version}, ${step.name})`;
      applied.push(step.version);
    }
    return { applied, current: newest };
  }) as Promise<{ applied: number[]; current: number }>;
}
