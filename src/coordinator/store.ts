import { randomBytes } from "node:crypto";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Checkpoint, FleetStage } from "../contract/fleet.ts";
import { toEvent, toObserved, toRun } from "./rows.ts";
import { migrateSqlite } from "./migrations/sqlite.ts";

const TERMINAL: ReadonlySet<string> = new Set(["shipped", "failed", "blocked"]);
/** Stages an operator's cancel leaves as they are. */
export const UNCANCELLABLE: ReadonlySet<string> = new Set(["shipped", "failed", "cancelled"]);
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

/**
 * The embedded coordinator's state in SQLite (WAL), migrated to the newest schema on open. Every fenced change is one statement
 * guarded by `lease_epoch = ?` inside one transaction, so a stale holder changes nothing.
 */
export class CoordinatorStore {
  private readonly db: DatabaseSync;
  readonly leaseMs: number;
  private readonly now: () => number;

  constructor(file: string, options: { leaseMs: number; now?: () => number }) {
    this.db = new DatabaseSync(file);
    this.leaseMs = options.leaseMs;
    this.now = options.now ?? Date.now;
    if (file !== ":memory:") this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    this.db.exec("PRAGMA busy_timeout = 5000;");
    migrateSqlite(this.db);
  }

  close(): void {
    this.db.close();
  }

  private readonly statements = new Map<string, StatementSync>();

  /** Each statement is prepared once per store. */
  private stmt(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }

  private tx<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }

  /** Dev only: puts a job in the fleet queue. */
  enqueue(input: {
    id?: string | undefined;
    title?: string | undefined;
    bodyMd: string;
    options?: Record<string, unknown> | undefined;
    requires?: string[] | undefined;
    priority?: number | undefined;
  }): CoordinatorJob {
    const id = input.id ?? `fj-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
    const at = this.now();
    return this.tx(() => {
      this.db
        .prepare(
          "INSERT INTO jobs (id, title, body_md, options, requires, priority, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .run(
          id,
          input.title ?? null,
          input.bodyMd,
          JSON.stringify(input.options ?? {}),
          JSON.stringify(input.requires ?? []),
          input.priority ?? 0,
          at,
          at,
        );
      this.event(id, "enqueued", null, null, "queued", null);
      return this.job(id)!;
    });
  }

  job(id: string): CoordinatorJob | undefined {
    const row = this.stmt("SELECT * FROM jobs WHERE id = ?").get(id) as Record<string, unknown> | undefined;
    return row ? toJob(row) : undefined;
  }

  jobs(): CoordinatorJob[] {
    return (this.stmt("SELECT * FROM jobs ORDER BY created_at, id").all() as Record<string, unknown>[]).map(toJob);
  }

  heartbeat(input: {
    factoryId: string;
    capabilities: string[];
    health: string;
    load: number;
    mode?: FactoryMode | undefined;
  }): { claimable: number } {
    const at = this.now();
    this.db
      .prepare(
        `INSERT INTO factories (id, capabilities, health, load, first_seen, last_seen, heartbeats, mode) VALUES (?, ?, ?, ?, ?, ?, 1, ?)
         ON CONFLICT(id) DO UPDATE SET capabilities = excluded.capabilities, health = excluded.health, load = excluded.load, last_seen = excluded.last_seen, heartbeats = heartbeats + 1, mode = excluded.mode`,
      )
      .run(
        input.factoryId,
        JSON.stringify(input.capabilities),
        input.health,
        input.load,
        at,
        at,
        input.mode ?? "fleet",
      );
    return { claimable: input.mode === "shadow" ? 0 : this.claimableCount(input.capabilities) };
  }

  factories(): Array<{
    id: string;
    capabilities: string[];
    health: string;
    load: number;
    lastSeen: string;
    heartbeats: number;
    mode: FactoryMode;
  }> {
    return (this.stmt("SELECT * FROM factories ORDER BY id").all() as Record<string, unknown>[]).map((row) => ({
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
  waitingDemand(liveWithinMs: number): { groups: Array<{ requires: string[]; jobs: number }>; live: string[][] } {
    const groups = (
      this.stmt("SELECT requires, count(*) AS jobs FROM jobs WHERE stage = 'queued' GROUP BY requires").all() as Array<{
        requires: string;
        jobs: number;
      }>
    ).map((row) => ({
      requires: JSON.parse(row.requires) as string[],
      jobs: Number(row.jobs),
    }));
    const live = (
      this.stmt(
        "SELECT capabilities FROM factories WHERE mode = 'fleet' AND health != 'draining' AND last_seen >= ?",
      ).all(this.now() - liveWithinMs) as Array<{ capabilities: string }>
    ).map((row) => JSON.parse(row.capabilities) as string[]);
    return { groups, live };
  }

  /**
   * An operator's cancel: the job rests in `cancelled` and its epoch goes up, so the holder's next
   * report, renew or release is answered 409 (fenced). Jobs that are finished stay as they are.
   */
  cancel(id: string): CancelOutcome {
    return this.tx(() => {
      const job = this.job(id);
      if (!job) return { ok: false, reason: "missing" } as const;
      if (UNCANCELLABLE.has(job.stage)) return { ok: false, reason: "finished", stage: job.stage } as const;
      const at = this.now();
      const epoch = job.leaseEpoch + 1;
      this.db
        .prepare(
          "UPDATE jobs SET stage = 'cancelled', lease_epoch = ?, factory_id = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_epoch = ?",
        )
        .run(epoch, at, id, job.leaseEpoch);
      this.stmt("UPDATE runs SET ended_at = ?, outcome = 'cancelled' WHERE job_id = ? AND ended_at IS NULL").run(
        at,
        id,
      );
      this.event(
        id,
        "cancelled",
        job.factoryId,
        epoch,
        "cancelled",
        job.factoryId ? `holder ${job.factoryId} fenced at lease ${job.leaseEpoch}` : null,
      );
      return { ok: true, job: this.job(id)!, holder: job.factoryId } as const;
    });
  }

  /** A stage a shadow factory saw one of its own local jobs reach. */
  observe(input: ObservedInput): void {
    this.stmt("INSERT INTO observed_events (factory_id, job_id, title, stage, at) VALUES (?, ?, ?, ?, ?)").run(
      input.factoryId,
      input.jobId,
      input.title ?? null,
      input.stage,
      this.now(),
    );
  }

  /** The newest observed stages (at most OBSERVED_LIMIT), oldest first. */
  observedEvents(): ObservedEvent[] {
    const rows = this.stmt("SELECT * FROM observed_events ORDER BY id DESC LIMIT ?").all(OBSERVED_LIMIT) as Record<
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
  private nextClaimable(capabilities: readonly string[]): CoordinatorJob | undefined {
    const have = new Set(capabilities);
    const fits = (row: Record<string, unknown>) =>
      row.requires === "[]" || (JSON.parse(String(row.requires)) as string[]).every((cap) => have.has(cap));
    const first = (rows: Iterable<unknown>) => {
      for (const row of rows as Iterable<Record<string, unknown>>) if (fits(row)) return toJob(row);
      return undefined;
    };
    const queued = first(
      this.stmt("SELECT * FROM jobs WHERE stage = 'queued' ORDER BY priority DESC, created_at, id").iterate(),
    );
    const expired = first(
      this.db
        .prepare(
          "SELECT * FROM jobs WHERE lease_expires_at IS NOT NULL AND lease_expires_at < ? AND stage NOT IN ('shipped', 'failed', 'blocked') ORDER BY priority DESC, created_at, id",
        )
        .iterate(this.now()),
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
  private claimableCount(capabilities: readonly string[]): number {
    const caps = JSON.stringify(capabilities);
    const fits =
      "(requires = '[]' OR NOT EXISTS (SELECT 1 FROM json_each(jobs.requires) need WHERE need.value NOT IN (SELECT value FROM json_each(?))))";
    const row = this.stmt(
      `SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE stage = 'queued' AND ${fits} LIMIT ?))
            + (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE lease_expires_at IS NOT NULL AND lease_expires_at < ? AND stage NOT IN ('shipped', 'failed', 'blocked') AND ${fits} LIMIT ?)) AS n`,
    ).get(caps, CLAIMABLE_CAP, this.now(), caps, CLAIMABLE_CAP) as { n: number };
    return Math.min(CLAIMABLE_CAP, Number(row.n));
  }

  /** A claim raises the epoch: whoever held the job before is fenced from now on. */
  claim(factoryId: string, capabilities: readonly string[]): { job: CoordinatorJob; reclaimed: boolean } | undefined {
    return this.tx(() => {
      const candidate = this.nextClaimable(capabilities);
      if (!candidate) return undefined;
      const at = this.now();
      const epoch = candidate.leaseEpoch + 1;
      const changed = this.db
        .prepare(
          "UPDATE jobs SET lease_epoch = ?, factory_id = ?, lease_expires_at = ?, stage = 'assigned', updated_at = ? WHERE id = ? AND lease_epoch = ?",
        )
        .run(epoch, factoryId, at + this.leaseMs, at, candidate.id, candidate.leaseEpoch);
      if (Number(changed.changes) !== 1) return undefined;
      const reclaimed = candidate.stage !== "queued";
      if (reclaimed) {
        this.stmt("UPDATE runs SET ended_at = ?, outcome = 'lease-expired' WHERE job_id = ? AND ended_at IS NULL").run(
          at,
          candidate.id,
        );
        this.event(candidate.id, "lease-expired", candidate.factoryId, candidate.leaseEpoch, candidate.stage, null);
      }
      this.stmt("INSERT INTO runs (job_id, factory_id, lease_epoch, started_at) VALUES (?, ?, ?, ?)").run(
        candidate.id,
        factoryId,
        epoch,
        at,
      );
      this.event(candidate.id, reclaimed ? "reclaimed" : "claimed", factoryId, epoch, "assigned", null);
      return { job: this.job(candidate.id)!, reclaimed };
    });
  }

  /** A fenced stage report: applied only under the current epoch. */
  report(
    id: string,
    input: { stage: FleetStage; checkpoint?: Checkpoint | undefined; leaseEpoch: number },
  ): Outcome<CoordinatorJob> {
    return this.tx(() => {
      const job = this.job(id);
      if (!job) return { ok: false, reason: "missing" } as const;
      const at = this.now();
      const changed = this.db
        .prepare(
          "UPDATE jobs SET stage = ?, checkpoint = COALESCE(?, checkpoint), updated_at = ? WHERE id = ? AND lease_epoch = ? AND factory_id IS NOT NULL",
        )
        .run(input.stage, input.checkpoint ? JSON.stringify(input.checkpoint) : null, at, id, input.leaseEpoch);
      if (Number(changed.changes) !== 1) {
        this.event(
          id,
          "fenced",
          null,
          input.leaseEpoch,
          input.stage,
          job.factoryId === null && job.leaseEpoch === input.leaseEpoch
            ? `lease ${input.leaseEpoch} was released`
            : `stale epoch ${input.leaseEpoch}; current ${job.leaseEpoch}`,
        );
        return { ok: false, reason: "stale", currentEpoch: job.leaseEpoch } as const;
      }
      const detail = input.checkpoint ? JSON.stringify(input.checkpoint) : null;
      // A report delivered twice (its answer lost with a coordinator that died) is one event, not two.
      const last = this.stmt(
        "SELECT lease_epoch, stage, detail FROM events WHERE job_id = ? AND type = 'stage' ORDER BY id DESC LIMIT 1",
      ).get(id) as Record<string, unknown> | undefined;
      const repeated =
        last !== undefined &&
        Number(last.lease_epoch) === input.leaseEpoch &&
        last.stage === input.stage &&
        (last.detail ?? null) === detail;
      if (!repeated) this.event(id, "stage", job.factoryId, input.leaseEpoch, input.stage, detail);
      if (TERMINAL.has(input.stage))
        this.stmt(
          "UPDATE runs SET ended_at = ?, outcome = ? WHERE job_id = ? AND lease_epoch = ? AND ended_at IS NULL",
        ).run(at, input.stage, id, input.leaseEpoch);
      return { ok: true, value: this.job(id)! } as const;
    });
  }

  renew(id: string, leaseEpoch: number): Outcome<CoordinatorJob> {
    return this.tx(() => {
      const job = this.job(id);
      if (!job) return { ok: false, reason: "missing" } as const;
      const at = this.now();
      const changed = this.db
        .prepare(
          "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_epoch = ? AND factory_id IS NOT NULL AND stage NOT IN ('shipped', 'failed', 'blocked')",
        )
        .run(at + this.leaseMs, at, id, leaseEpoch);
      if (Number(changed.changes) !== 1) {
        this.event(
          id,
          "fenced",
          null,
          leaseEpoch,
          null,
          `renew with stale epoch ${leaseEpoch}; current ${job.leaseEpoch}`,
        );
        return { ok: false, reason: "stale", currentEpoch: job.leaseEpoch } as const;
      }
      // A lease renewed every few seconds for hours would bury the job's timeline: one "renewed"
      // stands for a run of renewals under the same epoch with nothing else in between.
      const last = this.stmt(
        "SELECT type, lease_epoch AS epoch FROM events WHERE job_id = ? ORDER BY id DESC LIMIT 1",
      ).get(id) as { type: string; epoch: number | null } | undefined;
      if (last?.type !== "renewed" || last.epoch !== leaseEpoch)
        this.event(id, "renewed", job.factoryId, leaseEpoch, null, null);
      return { ok: true, value: this.job(id)! } as const;
    });
  }

  /** The holder gives the job back: a job not finished goes back to the queue. */
  release(id: string, leaseEpoch: number): Outcome<CoordinatorJob> {
    return this.tx(() => {
      const job = this.job(id);
      if (!job) return { ok: false, reason: "missing" } as const;
      const at = this.now();
      const stage = TERMINAL.has(job.stage) ? job.stage : "queued";
      const changed = this.db
        .prepare(
          "UPDATE jobs SET factory_id = NULL, lease_expires_at = NULL, stage = ?, updated_at = ? WHERE id = ? AND lease_epoch = ? AND factory_id IS NOT NULL",
        )
        .run(stage, at, id, leaseEpoch);
      if (Number(changed.changes) !== 1) {
        this.event(
          id,
          "fenced",
          null,
          leaseEpoch,
          null,
          `release with stale epoch ${leaseEpoch}; current ${job.leaseEpoch}`,
        );
        return { ok: false, reason: "stale", currentEpoch: job.leaseEpoch } as const;
      }
      this.stmt(
        "UPDATE runs SET ended_at = ?, outcome = COALESCE(outcome, 'released') WHERE job_id = ? AND lease_epoch = ? AND ended_at IS NULL",
      ).run(at, id, leaseEpoch);
      this.event(id, "released", job.factoryId, leaseEpoch, stage, null);
      return { ok: true, value: this.job(id)! } as const;
    });
  }

  runs(id: string): Array<{
    id: number;
    factoryId: string;
    leaseEpoch: number;
    startedAt: string;
    endedAt: string | null;
    outcome: string | null;
  }> {
    return (this.stmt("SELECT * FROM runs WHERE job_id = ? ORDER BY id").all(id) as Record<string, unknown>[]).map(
      toRun,
    );
  }

  events(id?: string): FleetEvent[] {
    const rows = (
      id === undefined
        ? this.stmt("SELECT * FROM events ORDER BY id").all()
        : this.stmt("SELECT * FROM events WHERE job_id = ? ORDER BY id").all(id)
    ) as Record<string, unknown>[];
    return rows.map(toEvent);
  }

  /** Enrolls a factory under a token (given hashed); an earlier token of the same factory is revoked. */
  enroll(factoryId: string, tokenHash: string): void {
    const at = this.now();
    this.tx(() => {
      this.stmt("UPDATE enrollments SET revoked_at = ? WHERE factory_id = ? AND revoked_at IS NULL").run(at, factoryId);
      this.stmt("INSERT INTO enrollments (token_hash, factory_id, created_at) VALUES (?, ?, ?)").run(
        tokenHash,
        factoryId,
        at,
      );
    });
  }

  tokenFactory(tokenHash: string): string | undefined {
    const row = this.stmt("SELECT factory_id FROM enrollments WHERE token_hash = ? AND revoked_at IS NULL").get(
      tokenHash,
    ) as { factory_id: string } | undefined;
    return row?.factory_id;
  }

  anyEnrolled(): boolean {
    return this.stmt("SELECT 1 FROM enrollments WHERE revoked_at IS NULL LIMIT 1").get() !== undefined;
  }

  enrollments(): Array<{ factoryId: string; enrolledAt: string; revokedAt: string | null }> {
    return (
      this.stmt(
        "SELECT factory_id, created_at, revoked_at FROM enrollments ORDER BY factory_id, created_at",
      ).all() as Record<string, unknown>[]
    ).map((row) => ({
      factoryId: String(row.factory_id),
      enrolledAt: new Date(Number(row.created_at)).toISOString(),
      revokedAt: row.revoked_at === null ? null : new Date(Number(row.revoked_at)).toISOString(),
    }));
  }

  /** Revokes the factory's tokens and fences its leases: each job it holds goes back to the queue (a finished one stays finished). */
  revoke(factoryId: string): { revoked: number; fencedJobs: string[] } {
    return this.tx(() => {
      const at = this.now();
      const revoked = Number(
        this.stmt("UPDATE enrollments SET revoked_at = ? WHERE factory_id = ? AND revoked_at IS NULL").run(
          at,
          factoryId,
        ).changes,
      );
      const held = this.stmt("SELECT id, stage, lease_epoch FROM jobs WHERE factory_id = ?").all(factoryId) as Array<{
        id: string;
        stage: string;
        lease_epoch: number;
      }>;
      for (const job of held) {
        const stage = TERMINAL.has(job.stage) ? job.stage : "queued";
        this.stmt(
          "UPDATE jobs SET factory_id = NULL, lease_expires_at = NULL, stage = ?, updated_at = ? WHERE id = ?",
        ).run(stage, at, job.id);
        this.stmt(
          "UPDATE runs SET ended_at = ?, outcome = COALESCE(outcome, 'revoked') WHERE job_id = ? AND lease_epoch = ? AND ended_at IS NULL",
        ).run(at, job.id, job.lease_epoch);
        this.event(
          job.id,
          "revoked",
          factoryId,
          Number(job.lease_epoch),
          stage,
          "the factory's enrollment was revoked",
        );
      }
      return { revoked, fencedJobs: held.map((job) => job.id) };
    });
  }

  wasGranted(jobId: string, leaseEpoch: number, factoryId: string): boolean {
    return (
      this.stmt("SELECT 1 FROM runs WHERE job_id = ? AND lease_epoch = ? AND factory_id = ?").get(
        jobId,
        leaseEpoch,
        factoryId,
      ) !== undefined
    );
  }

  /** Deletes the events of finished, released jobs recorded before `before` (ms); answers how many. */
  pruneEvents(before: number): number {
    const gone = this.db
      .prepare(
        "DELETE FROM events WHERE at < ? AND job_id IN (SELECT id FROM jobs WHERE stage IN ('shipped', 'failed', 'blocked', 'cancelled') AND factory_id IS NULL)",
      )
      .run(before);
    const observed = this.stmt("DELETE FROM observed_events WHERE at < ?").run(before);
    return Number(gone.changes) + Number(observed.changes);
  }

  private event(
    jobId: string,
    type: string,
    factoryId: string | null,
    leaseEpoch: number | null,
    stage: string | null,
    detail: string | null,
  ): void {
    this.stmt(
      "INSERT INTO events (job_id, at, type, factory_id, lease_epoch, stage, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ).run(jobId, this.now(), type, factoryId, leaseEpoch, stage, detail);
  }
}

function toJob(row: Record<string, unknown>): CoordinatorJob {
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
