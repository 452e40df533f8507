import type { FleetEvent, ObservedEvent, RunView } from "./fleet-store.ts";

/** A database row of either store, as its driver hands it over. */
type Row = Record<string, unknown>;

/** A `runs` row as the views show it: the same in SQLite and PostgreSQL (times in ms). */
export function toRun(row: Row): RunView {
  return {
    id: Number(row.id),
    factoryId: String(row.factory_id),
    leaseEpoch: Number(row.lease_epoch),
    startedAt: new Date(Number(row.started_at)).toISOString(),
    endedAt: row.ended_at === null ? null : new Date(Number(row.ended_at)).toISOString(),
    outcome: row.outcome === null ? null : String(row.outcome),
  };
}

/** An `events` row as the views show it. */
export function toEvent(row: Row): FleetEvent {
  return {
    id: Number(row.id),
    jobId: String(row.job_id),
    at: new Date(Number(row.at)).toISOString(),
    type: String(row.type),
    factoryId: row.factory_id === null ? null : String(row.factory_id),
    leaseEpoch: row.lease_epoch === null ? null : Number(row.lease_epoch),
    stage: row.stage === null ? null : String(row.stage),
    detail: row.detail === null ? null : String(row.detail),
  };
}

/** An `observed_events` row (a shadow factory's local stage). */
export function toObserved(row: Row): ObservedEvent {
  return {
    id: Number(row.id),
    factoryId: String(row.factory_id),
    jobId: String(row.job_id),
    title: row.title === null ? null : String(row.title),
    stage: String(row.stage),
    at: new Date(Number(row.at)).toISOString(),
  };
}
