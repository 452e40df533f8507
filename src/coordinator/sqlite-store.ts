import { DatabaseSync } from "node:sqlite";
import type {
  CoordinatorJob,
  EnqueueInput,
  FleetStore,
  HeartbeatInput,
  LeaseState,
  Migrated,
  ObservedInput,
  OpenOptions,
  Outcome,
  StoreEngine,
} from "./fleet-store.ts";
import { migrateSqlite } from "./migrations/sqlite.ts";
import { CoordinatorStore } from "./store.ts";

/** A SQLite file or ":memory:". */
export const SQLITE_STORE: StoreEngine = {
  name: "sqlite",
  open: async (db, options) => new SqliteFleetStore(db, options),
  migrate: async (db) => migrateSqliteFile(db),
};

/**
 * The embedded default: the synchronous node:sqlite store behind the async store interface. One
 * process owns the file; its clock is the store's clock.
 */
export class SqliteFleetStore implements FleetStore {
  readonly engine = "sqlite" as const;
  readonly sync: CoordinatorStore;

  constructor(file: string, options: OpenOptions & { now?: () => number }) {
    this.sync = new CoordinatorStore(file, options);
  }

  get leaseMs(): number {
    return this.sync.leaseMs;
  }

  async enqueue(input: EnqueueInput) {
    if (input.id !== undefined && this.sync.job(input.id)) return undefined;
    return this.sync.enqueue(input);
  }
  async job(id: string) {
    return this.sync.job(id);
  }
  async jobs() {
    return this.sync.jobs();
  }
  async heartbeat(input: HeartbeatInput) {
    return this.sync.heartbeat(input);
  }
  async factories() {
    return this.sync.factories();
  }
  async claim(factoryId: string, capabilities: readonly string[]) {
    return this.sync.claim(factoryId, capabilities);
  }
  async report(id: string, input: Parameters<CoordinatorStore["report"]>[1]) {
    return lease(this.sync.report(id, input));
  }
  async renew(id: string, leaseEpoch: number) {
    return lease(this.sync.renew(id, leaseEpoch));
  }
  async release(id: string, leaseEpoch: number) {
    return lease(this.sync.release(id, leaseEpoch));
  }
  async runs(id: string) {
    return this.sync.runs(id);
  }
  async events(id?: string) {
    return this.sync.events(id);
  }
  async pruneEvents(before: number) {
    return this.sync.pruneEvents(before);
  }
  async enroll(factoryId: string, tokenHash: string) {
    this.sync.enroll(factoryId, tokenHash);
  }
  async tokenFactory(tokenHash: string) {
    return this.sync.tokenFactory(tokenHash);
  }
  async anyEnrolled() {
    return this.sync.anyEnrolled();
  }
  async enrollments() {
    return this.sync.enrollments();
  }
  async revoke(factoryId: string) {
    return this.sync.revoke(factoryId);
  }
  async wasGranted(jobId: string, leaseEpoch: number, factoryId: string) {
    return this.sync.wasGranted(jobId, leaseEpoch, factoryId);
  }
  async cancel(id: string) {
    return this.sync.cancel(id);
  }
  async waitingDemand(liveWithinMs: number) {
    return this.sync.waitingDemand(liveWithinMs);
  }
  async observe(input: ObservedInput) {
    this.sync.observe(input);
  }
  async observedEvents() {
    return this.sync.observedEvents();
  }
  async ping() {
    this.sync.job("");
  }
  async close() {
    this.sync.close();
  }
}

function lease(outcome: Outcome<CoordinatorJob>): Outcome<LeaseState> {
  if (!outcome.ok) return outcome;
  const { stage, leaseEpoch, factoryId, leaseExpiresAt } = outcome.value;
  return { ok: true, value: { stage, leaseEpoch, factoryId, leaseExpiresAt } };
}

export function migrateSqliteFile(file: string): Migrated {
  const db = new DatabaseSync(file);
  try {
    db.exec("PRAGMA busy_timeout = 5000;");
    return { engine: "sqlite", ...migrateSqlite(db) };
  } finally {
    db.close();
  }
}
