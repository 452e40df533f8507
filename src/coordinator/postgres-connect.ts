import postgres from "postgres";
import type { Migrated } from "./fleet-store.ts";
import { applyPostgresMigrations } from "./migrations/postgres.ts";

/** A connection pool whose int8 values (ms timestamps, epochs, counts) come back as numbers. */
export type Sql = postgres.Sql<{ bigint: number }>;

export function connectPostgres(url: string, pool: number): Sql {
  return postgres(url, {
    max: pool,
    prepare: true,
    onnotice: () => {},
    // The statements are fixed and their best plans do not depend on the values: plan each once.
    connection: { application_name: "aq-coordinator", plan_cache_mode: "force_generic_plan" },
    // ms timestamps, epochs and counts are int8: numbers, not strings (all fit in 2^53).
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (value: number) => String(value),
        parse: (value: string) => Number(value),
      },
    },
  }) as unknown as Sql;
}

export async function migratePostgres(url: string): Promise<Migrated> {
  const sql = connectPostgres(url, 1);
  try {
    return { engine: "postgres", ...(await applyPostgresMigrations(sql)) };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
