import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { BIN, env, NODE, ROOT, tempDir } from "../lib.ts";

/**
 * Coordinator processes over one store for the coordinator benches: SQLite (one process, the
 * embedded default) or PostgreSQL (any number of processes; one throw-away cluster per bench run).
 */
/** The coordinator always asks for a bearer token: the simulated factories carry this one. */
export const BENCH_TOKEN = "bench-coordinator-token";

export type Engine = "sqlite" | "postgres";

interface Cluster {
  url: string;
  pid: number;
  database(): Promise<string>;
  stop(): Promise<void>;
}

let cluster: Promise<Cluster | undefined> | undefined;

/** The bench's PostgreSQL cluster (started on first use), or undefined when PostgreSQL is not installed. */
export function benchCluster(): Promise<Cluster | undefined> {
  return (cluster ??= import(join(ROOT, "test/helpers/postgres.ts")).then((pg) =>
    pg.postgresMissing() ? undefined : pg.startCluster(),
  ));
}

export async function stopBenchCluster(): Promise<void> {
  const running = await cluster;
  cluster = undefined;
  await running?.stop();
}

export interface CoordinatorWorld {
  readonly engine: Engine;
  readonly apis: string[];
  /** CPU seconds (user + system) so far of the coordinator processes, and of the database server when it is one. */
  cpu(): { coordinators: number; database: number };
  /** (job, epoch) pairs whose runs name more than one factory, and job cycles completed (runs ended as shipped). */
  check(): Promise<{ doubled: number; cycles: number }>;
  stop(): Promise<void>;
}

const TICK = 100;

function cpuOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
}

function childrenOf(ppid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = readFileSync(`/proc/${name}/stat`, "utf8").split(") ")[1]!.split(" ");
      if (Number(fields[1]) === ppid) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function seedSqlite(file: string, queued: number, finished: number): Promise<void> {
  const { CoordinatorStore } = await import(join(ROOT, "dist/src/coordinator/store.js"));
  new CoordinatorStore(file, { leaseMs: 60_000 }).close();
  const db = new DatabaseSync(file);
  const at = Date.now();
  db.exec("BEGIN");
  const insert = db.prepare(
    "INSERT INTO jobs (id, body_md, stage, lease_epoch, created_at, updated_at) VALUES (?, 'true', ?, ?, ?, ?)",
  );
  for (let i = 0; i < finished; i++) insert.run(`done-${i}`, "shipped", 1, at - 1_000_000 + i, at);
  for (let i = 0; i < queued; i++) insert.run(`sim-${i}`, "queued", 0, at + i, at);
  db.exec("COMMIT");
  db.close();
}

async function seedPostgres(url: string, queued: number, finished: number): Promise<void> {
  const { PostgresStore } = await import(join(ROOT, "dist/src/coordinator/postgres-store.js"));
  await (await PostgresStore.open(url, { leaseMs: 60_000, pool: 1 })).close();
  const { default: postgres } = await import("postgres");
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql`INSERT INTO jobs (id, body_md, stage, lease_epoch, created_at, updated_at)
    SELECT 'done-' || g, 'true', 'shipped', 1, aq_now() - 1000000 + g, aq_now() FROM generate_series(1, ${finished}::int) g`;
  await sql`INSERT INTO jobs (id, body_md, stage, lease_epoch, created_at, updated_at)
    SELECT 'sim-' || g, 'true', 'queued', 0, aq_now() + g, aq_now() FROM generate_series(1, ${queued}::int) g`;
  await sql`VACUUM ANALYZE`;
  await sql.end();
}

function startProcess(db: string, lease: string, pool: number): Promise<{ child: ChildProcess; api: string }> {
  const child = spawn(NODE, [BIN, "coordinator", "--port", "0", "--db", db, "--lease", lease, "--pool", String(pool)], {
    env: env({ AQ_COORDINATOR_TOKEN: BENCH_TOKEN }),
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((done, fail) => {
    child.once("exit", (code) => fail(new Error(`aq coordinator exited ${code}`)));
    child.stdout!.once("data", (chunk: Buffer) => done({ child, api: chunk.toString().trim().split("\n")[0]! }));
  });
}

/** Starts `processes` coordinators over a fresh store seeded with queued and finished jobs; undefined when the engine is unavailable. */
export async function coordinatorWorld(
  engine: Engine,
  processes: number,
  seed: { queued: number; finished: number },
  lease = "1m",
): Promise<CoordinatorWorld | undefined> {
  let db: string;
  let databasePid: number | undefined;
  if (engine === "sqlite") {
    db = join(tempDir("aq-bench-coord-"), "coordinator.sqlite");
    await seedSqlite(db, seed.queued, seed.finished);
  } else {
    const pg = await benchCluster();
    if (!pg) return undefined;
    db = await pg.database();
    databasePid = pg.pid;
    await seedPostgres(db, seed.queued, seed.finished);
  }
  const started = await Promise.all(Array.from({ length: processes }, () => startProcess(db, lease, 10)));
  const databaseCpu = () =>
    databasePid === undefined ? 0 : childrenOf(databasePid).reduce((sum, pid) => sum + cpuOf(pid), cpuOf(databasePid));
  return {
    engine,
    apis: started.map((one) => one.api),
    cpu: () => ({
      coordinators: started.reduce((sum, one) => sum + cpuOf(one.child.pid!), 0),
      database: databaseCpu(),
    }),
    async check() {
      const doubledSql =
        "SELECT COUNT(*) AS n FROM (SELECT job_id, lease_epoch FROM runs GROUP BY job_id, lease_epoch HAVING COUNT(DISTINCT factory_id) > 1) twice";
      const cyclesSql = "SELECT COUNT(*) AS n FROM runs WHERE outcome = 'shipped'";
      if (engine === "sqlite") {
        const check = new DatabaseSync(db, { readOnly: true });
        const doubled = Number((check.prepare(doubledSql).get() as { n: number }).n);
        const cycles = Number((check.prepare(cyclesSql).get() as { n: number }).n);
        check.close();
        return { doubled, cycles };
      }
      const { default: postgres } = await import("postgres");
      const sql = postgres(db, { max: 1, onnotice: () => {} });
      const [doubled] = await sql.unsafe(doubledSql);
      const [cycles] = await sql.unsafe(cyclesSql);
      await sql.end();
      return { doubled: Number(doubled!.n), cycles: Number(cycles!.n) };
    },
    async stop() {
      await Promise.all(
        started.map(
          ({ child }) =>
            new Promise((done) => {
              child.removeAllListeners("exit");
              child.once("exit", done);
              child.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}
