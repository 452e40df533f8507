import type { FleetStore, Migrated, OpenOptions, StoreEngine } from "./fleet-store.ts";

/**
 * The coordinator's stores, first match wins: a new store is its own files and one row here.
 * Each is imported only when a database of its kind is opened (the PostgreSQL driver is not
 * loaded for SQLite).
 */
const STORES: ReadonlyArray<{ readonly takes: (db: string) => boolean; readonly load: () => Promise<StoreEngine> }> = [
  { takes: isPostgresUrl, load: async () => (await import("./postgres-store.ts")).POSTGRES_STORE },
  { takes: () => true, load: async () => (await import("./sqlite-store.ts")).SQLITE_STORE },
];

/** A postgres:// (or postgresql://) URL; anything else is a SQLite file or ":memory:". */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

async function engineFor(db: string): Promise<StoreEngine> {
  return STORES.find((store) => store.takes(db))!.load();
}

/** Opens the store `db` names, migrating it to the current schema first. */
export async function openStore(db: string, options: OpenOptions): Promise<FleetStore> {
  return (await engineFor(db)).open(db, options);
}

/** Applies pending migrations to `db` and answers the versions applied now. */
export async function migrate(db: string): Promise<Migrated> {
  return (await engineFor(db)).migrate(db);
}
