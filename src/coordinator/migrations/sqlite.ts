import type { DatabaseSync } from "node:sqlite";

/**
 * The SQLite store's schema, as numbered steps applied in order and recorded in
 * aq_migrations. Version 1 is the schema from before versioning (hence IF NOT EXISTS: a file
 * written by an older aq adopts it as is). Never edit a released step: add the next one.
 */
export const SQLITE_MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: "jobs, factories, runs, events",
    sql: `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, title TEXT, body_md TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}',
  requires TEXT NOT NULL DEFAULT '[]', priority INTEGER NOT NULL DEFAULT 0,
  stage TEXT NOT NULL DEFAULT 'queued', lease_epoch INTEGER NOT NULL DEFAULT 0,
  factory_id TEXT, lease_expires_at INTEGER, checkpoint TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS factories (
  id TEXT PRIMARY KEY, capabilities TEXT NOT NULL, health TEXT NOT NULL, load REAL NOT NULL,
  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, heartbeats INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, factory_id TEXT NOT NULL,
  lease_epoch INTEGER NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER, outcome TEXT
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, at INTEGER NOT NULL, type TEXT NOT NULL,
  factory_id TEXT, lease_epoch INTEGER, stage TEXT, detail TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs(stage, priority DESC, created_at, id);
CREATE INDEX IF NOT EXISTS jobs_lease ON jobs(lease_expires_at);
CREATE INDEX IF NOT EXISTS runs_job ON runs(job_id, id);
`,
  },
  {
    version: 2,
    name: "leases of unfinished jobs only in the expiry index; events by time for pruning",
    sql: `
DROP INDEX IF EXISTS jobs_lease;
CREATE INDEX jobs_lease ON jobs(lease_expires_at) WHERE lease_expires_at IS NOT NULL AND stage NOT IN ('shipped', 'failed', 'blocked');
CREATE INDEX events_at ON events(at);
`,
  },
  {
    version: 3,
    name: "enrolled factories: one hashed token each",
    sql: `
CREATE TABLE enrollments (
  token_hash TEXT PRIMARY KEY, factory_id TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER
);
CREATE INDEX enrollments_factory ON enrollments(factory_id);
`,
  },
  {
    version: 4,
    name: "a factory's mode (fleet or shadow); stages observed on shadow factories",
    sql: `
ALTER TABLE factories ADD COLUMN mode TEXT NOT NULL DEFAULT 'fleet';
CREATE TABLE observed_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, factory_id TEXT NOT NULL, job_id TEXT NOT NULL,
  title TEXT, stage TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE INDEX observed_job ON observed_events(factory_id, job_id, id);
`,
  },
];

/** Brings `db` to the newest version in one IMMEDIATE transaction (the write lock); answers the versions applied. */
export function migrateSqlite(db: DatabaseSync): { applied: number[]; current: number } {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(
      "CREATE TABLE IF NOT EXISTS aq_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    );
    const done = new Set(
      (db.prepare("SELECT version FROM aq_migrations").all() as Array<{ version: number }>).map((row) =>
        Number(row.version),
      ),
    );
    const applied: number[] = [];
    for (const step of SQLITE_MIGRATIONS) {
      if (done.has(step.version)) continue;
      db.exec(step.sql);
      db.prepare("INSERT INTO aq_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        step.version,
        step.name,
        Date.now(),
      );
      applied.push(step.version);
    }
    db.exec("COMMIT");
    const newest = Math.max(...SQLITE_MIGRATIONS.map((step) => step.version), ...done);
    if (newest > SQLITE_MIGRATIONS.at(-1)!.version)
      throw new Error(
        `the coordinator database is at schema version ${newest}, newer than this aq knows (${SQLITE_MIGRATIONS.at(-1)!.version})`,
      );
    return { applied, current: newest };
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}
