import { DatabaseSync, type StatementSync } from "node:sqlite";
import { migrateSqlite } from "./migrations/sqlite.ts";

/**
 * One SQLite coordinator database (WAL), migrated to the newest schema on open: its prepared
 * statements, its transactions and its clock, shared by the store's views and its changes.
 */
export class SqliteDb {
  readonly raw: DatabaseSync;
  readonly now: () => number;
  private readonly statements = new Map<string, StatementSync>();

  constructor(file: string, now: () => number = Date.now) {
    this.raw = new DatabaseSync(file);
    this.now = now;
    if (file !== ":memory:") this.raw.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    this.raw.exec("PRAGMA busy_timeout = 5000;");
    migrateSqlite(this.raw);
  }

  /** Each statement is prepared once per store. */
  stmt(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.raw.prepare(sql)));
    return statement;
  }

  /** A statement prepared on each call. */
  prepare(sql: string): StatementSync {
    return this.raw.prepare(sql);
  }

  tx<T>(fn: () => T): T {
    this.raw.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.raw.exec("COMMIT");
      return result;
    } catch (error) {
      this.raw.exec("ROLLBACK");
      throw error;
    }
  }

  close(): void {
    this.raw.close();
  }
}
