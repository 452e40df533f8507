import { randomBytes } from "node:crypto";
import type { Checkpoint, FleetStage } from "../contract/fleet.ts";
import type {
  CancelOutcome,
  CoordinatorJob,
  EnqueueInput,
  HeartbeatInput,
  ObservedInput,
  Outcome,
} from "./fleet-store.ts";
import { SqliteDb } from "./sqlite-db.ts";
import { SqliteViews } from "./sqlite-views.ts";

const TERMINAL: ReadonlySet<string> = new Set(["shipped", "failed", "blocked"]);
/** Stages an operator's cancel leaves as they are. */
export const UNCANCELLABLE: ReadonlySet<string> = new Set(["shipped", "failed", "cancelled"]);

/**
 * The embedded coordinator's state machine in SQLite: every change (enqueue, claim, report,
 * renew, release, cancel, revoke, and the factories' records). Every fenced change is one
 * statement guarded by `lease_epoch = ?` inside one transaction, so a stale holder changes
 * nothing. The schema is migrations/sqlite.ts; the reads are SqliteViews.
 */
export class CoordinatorStore extends SqliteViews {
  readonly leaseMs: number;

  constructor(file: string, options: { leaseMs: number; now?: () => number }) {
    super(new SqliteDb(file, options.now));
    this.leaseMs = options.leaseMs;
  }

  close(): void {
    this.db.close();
  }

  /** Dev only: puts a job in the fleet queue. */
  enqueue(input: EnqueueInput): CoordinatorJob {
    const id = input.id ?? `fj-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
    const at = this.db.now();
    return this.db.tx(() => {
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

  heartbeat(input: HeartbeatInput): { claimable: number } {
    const at = this.db.now();
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

  /**
   * An operator's cancel: the job rests in `cancelled` and its epoch goes up, so the holder's next
   * report, renew or release is answered 409 (fenced). Jobs that are finished stay as they are.
   */
  cancel(id: string): CancelOutcome {
    return this.db.tx(() => {
      const job = this.job(id);
      if (!job) return { ok: false, reason: "missing" } as const;
      if (UNCANCELLABLE.has(job.stage)) return { ok: false, reason: "finished", stage: job.stage } as const;
      const at = this.db.now();
      const epoch = job.leaseEpoch + 1;
      this.db
        .prepare(
          "UPDATE jobs SET stage = 'cancelled', lease_epoch = ?, factory_id = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND lease_epoch = ?",
        )
        .run(epoch, at, id, job.leaseEpoch);
      this.db
        .stmt("UPDATE runs SET ended_at = ?, outcome = 'cancelled' WHERE job_id = ? AND ended_at IS NULL")
        .run(at, id);
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
    this.db
      .stmt("INSERT INTO observed_events (factory_id, job_id, title, stage, at) VALUES (?, ?, ?, ?, ?)")
      .run(input.factoryId, input.jobId, input.title ?? null, input.stage, this.db.now());
  }

  /** A claim raises the epoch: whoever held the job before is fenced from now on. */
  claim(factoryId: string, capabilities: readonly string[]): { job: CoordinatorJob; reclaimed: boolean } | undefined {
    return this.db.tx(() => {
      const candidate = this.nextClaimable(capabilities);
      if (!candidate) return undefined;
      const at = this.db.now();
      const epoch = candidate.leaseEpoch + 1;
      const changed = this.db
        .prepare(
          "UPDATE jobs SET lease_epoch = ?, factory_id = ?, lease_expires_at = ?, stage = 'assigned', updated_at = ? WHERE id = ? AND lease_epoch = ?",
        )
        .run(epoch, factoryId, at + this.leaseMs, at, candidate.id, candidate.leaseEpoch);
      if (Number(changed.changes) !== 1) return undefined;
      const reclaimed = candidate.stage !== "queued";
      if (reclaimed) {
        this.db
          .stmt("UPDATE runs SET ended_at = ?, outcome = 'lease-expired' WHERE job_id = ? AND ended_at IS NULL")
          .run(at, candidate.id);
        this.event(candidate.id, "lease-expired", candidate.factoryId, candidate.leaseEpoch, candidate.stage, null);
      }
      this.db
        .stmt("INSERT INTO runs (job_id, factory_id, lease_epoch, started_at) VALUES (?, ?, ?, ?)")
        .run(candidate.id, factoryId, epoch, at);
      this.event(candidate.id, reclaimed ? "reclaimed" : "claimed", factoryId, epoch, "assigned", null);
      return { job: this.job(candidate.id)!, reclaimed };
    });
  }

  /** A fenced stage report: applied only under the current epoch. */
  report(
    id: string,
    input: { stage: FleetStage; checkpoint?: Checkpoint | undefined; leaseEpoch: number },
  ): Outcome<CoordinatorJob> {
    return this.db.tx(() => {
      const job = this.job(id);
      if (!job) return { ok: false, reason: "missing" } as const;
      const at = this.db.now();
      const changed = this.db
        .prepare(
          "UPDATE jobs SET stage = ?, checkpoint = COALESCE(?, checkpoint), updated_at = ? WHERE id = ? AND lease_epoch = ? AND factory_id IS NOT NULL",
        )
        .run(input.stage, input.checkpoint ? JSON.stringify(input.checkpoint) : null, at, id, input.leaseEpoch);
      if (Number(changed.changes) !== 1) {
        return this.fenced(
          job,
          input.leaseEpoch,
          input.stage,
          job.factoryId === null && job.leaseEpoch === input.leaseEpoch
            ? `lease ${input.leaseEpoch} was released`
            : `stale epoch ${input.leaseEpoch}; current ${job.leaseEpoch}`,
        );
      }
      const detail = input.checkpoint ? JSON.stringify(input.checkpoint) : null;
      // A report delivered twice (its answer lost with a coordinator that died) is one event, not two.
      const last = this.db
        .stmt(
          "SELECT lease_epoch, stage, detail FROM events WHERE job_id = ? AND type = 'stage' ORDER BY id DESC LIMIT 1",
        )
        .get(id) as Record<string, unknown> | undefined;
      const repeated =
        last !== undefined &&
        Number(last.lease_epoch) === input.leaseEpoch &&
        last.stage === input.stage &&
        (last.detail ?? null) === detail;
      if (!repeated) this.event(id, "stage", job.factoryId, input.leaseEpoch, input.stage, detail);
      if (TERMINAL.has(input.stage))
        this.db
          .stmt("UPDATE runs SET ended_at = ?, outcome = ? WHERE job_id = ? AND lease_epoch = ? AND ended_at IS NULL")
          .run(at, input.stage, id, input.leaseEpoch);
      return { ok: true, value: this.job(id)! } as const;
    });
  }

  renew(id: string, leaseEpoch: number): Outcome<CoordinatorJob> {
    return this.db.tx(() => {
      const job = this.job(id);
      if (!job) return { ok: false, reason: "missing" } as const;
      const at = this.db.now();
      const changed = this.db
        .prepare(
          "UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_epoch = ? AND factory_id IS NOT NULL AND stage NOT IN ('shipped', 'failed', 'blocked')",
        )
        .run(at + this.leaseMs, at, id, leaseEpoch);
      if (Number(changed.changes) !== 1) {
        return this.fenced(job, leaseEpoch, null, `renew with stale epoch ${leaseEpoch}; current ${job.leaseEpoch}`);
      }
      // A lease renewed every few seconds for hours would bury the job's timeline: one "renewed"
      // stands for a run of renewals under the same epoch with nothing else in between.
      const last = this.db
        .stmt("SELECT type, lease_epoch AS epoch FROM events WHERE job_id = ? ORDER BY id DESC LIMIT 1")
        .get(id) as { type: string; epoch: number | null } | undefined;
      if (last?.type !== "renewed" || last.epoch !== leaseEpoch)
        this.event(id, "renewed", job.factoryId, leaseEpoch, null, null);
      return { ok: true, value: this.job(id)! } as const;
    });
  }

  /** The holder gives the job back: a job not finished goes back to the queue. */
  release(id: string, leaseEpoch: number): Outcome<CoordinatorJob> {
    return this.db.tx(() => {
      const job = this.job(id);
      if (!job) return { ok: false, reason: "missing" } as const;
      const at = this.db.now();
      const stage = TERMINAL.has(job.stage) ? job.stage : "queued";
      const changed = this.db
        .prepare(
          "UPDATE jobs SET factory_id = NULL, lease_expires_at = NULL, stage = ?, updated_at = ? WHERE id = ? AND lease_epoch = ? AND factory_id IS NOT NULL",
        )
        .run(stage, at, id, leaseEpoch);
      if (Number(changed.changes) !== 1) {
        return this.fenced(job, leaseEpoch, null, `release with stale epoch ${leaseEpoch}; current ${job.leaseEpoch}`);
      }
      this.db
        .stmt(
          "UPDATE runs SET ended_at = ?, outcome = COALESCE(outcome, 'released') WHERE job_id = ? AND lease_epoch = ? AND ended_at IS NULL",
        )
        .run(at, id, leaseEpoch);
      this.event(id, "released", job.factoryId, leaseEpoch, stage, null);
      return { ok: true, value: this.job(id)! } as const;
    });
  }

  /** Enrolls a factory under a token (given hashed); an earlier token of the same factory is revoked. */
  enroll(factoryId: string, tokenHash: string): void {
    const at = this.db.now();
    this.db.tx(() => {
      this.db
        .stmt("UPDATE enrollments SET revoked_at = ? WHERE factory_id = ? AND revoked_at IS NULL")
        .run(at, factoryId);
      this.db
        .stmt("INSERT INTO enrollments (token_hash, factory_id, created_at) VALUES (?, ?, ?)")
        .run(tokenHash, factoryId, at);
    });
  }

  /** Revokes the factory's tokens and fences its leases: each job it holds goes back to the queue (a finished one stays finished). */
  revoke(factoryId: string): { revoked: number; fencedJobs: string[] } {
    return this.db.tx(() => {
      const at = this.db.now();
      const revoked = Number(
        this.db
          .stmt("UPDATE enrollments SET revoked_at = ? WHERE factory_id = ? AND revoked_at IS NULL")
          .run(at, factoryId).changes,
      );
      const held = this.db
        .stmt("SELECT id, stage, lease_epoch FROM jobs WHERE factory_id = ?")
        .all(factoryId) as Array<{
        id: string;
        stage: string;
        lease_epoch: number;
      }>;
      for (const job of held) {
        const stage = TERMINAL.has(job.stage) ? job.stage : "queued";
        this.db
          .stmt("UPDATE jobs SET factory_id = NULL, lease_expires_at = NULL, stage = ?, updated_at = ? WHERE id = ?")
          .run(stage, at, job.id);
        this.db
          .stmt(
            "UPDATE runs SET ended_at = ?, outcome = COALESCE(outcome, 'revoked') WHERE job_id = ? AND lease_epoch = ? AND ended_at IS NULL",
          )
          .run(at, job.id, job.lease_epoch);
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

  /** Deletes the events of finished, released jobs recorded before `before` (ms); answers how many. */
  pruneEvents(before: number): number {
    const gone = this.db
      .prepare(
        "DELETE FROM events WHERE at < ? AND job_id IN (SELECT id FROM jobs WHERE stage IN ('shipped', 'failed', 'blocked', 'cancelled') AND factory_id IS NULL)",
      )
      .run(before);
    const observed = this.db.stmt("DELETE FROM observed_events WHERE at < ?").run(before);
    return Number(gone.changes) + Number(observed.changes);
  }

  /** A call under a stale epoch: recorded as a `fenced` event, answered with the current epoch (the 409). */
  private fenced(job: CoordinatorJob, leaseEpoch: number, stage: string | null, detail: string) {
    this.event(job.id, "fenced", null, leaseEpoch, stage, detail);
    return { ok: false, reason: "stale", currentEpoch: job.leaseEpoch } as const;
  }

  private event(
    jobId: string,
    type: string,
    factoryId: string | null,
    leaseEpoch: number | null,
    stage: string | null,
    detail: string | null,
  ): void {
    this.db
      .stmt(
        "INSERT INTO events (job_id, at, type, factory_id, lease_epoch, stage, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(jobId, this.db.now(), type, factoryId, leaseEpoch, stage, detail);
  }
}
