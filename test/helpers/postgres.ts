import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A throw-away PostgreSQL cluster for tests and the bench: initdb in a temporary directory, a free
 * loopback port, trust auth on loopback only, durability off (fsync) because nothing outlives it.
 * PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user the Debian
 * package creates.
 */
export interface TestCluster {
  /** postgres://… of the cluster's `postgres` database. */
  readonly url: string;
  /** The postmaster's pid (its backends are its children). */
  readonly pid: number;
  /** A fresh, empty database on the cluster; answers its URL. */
  database(name?: string): Promise<string>;
  stop(): Promise<void>;
}

/** The directory of the newest installed PostgreSQL's binaries, or undefined. */
export function postgresBin(): string | undefined {
  if (process.env.AQ_PG_BIN)
    return existsSync(join(process.env.AQ_PG_BIN, "initdb")) ? process.env.AQ_PG_BIN : undefined;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : undefined;
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresMissing(): string | undefined {
  return postgresBin() ? undefined : "PostgreSQL is not installed (apt-get install postgresql)";
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** As root: the ids of the `postgres` system user, to run the server as. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g") };
}

export async function startCluster(): Promise<TestCluster> {
  const bin = postgresBin();
  if (!bin) throw new Error(postgresMissing());
  const dir = mkdtempSync(join(tmpdir(), "aq-pg-"));
  const user = postgresUser();
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, "data");
  const asUser = { ...user, cwd: dir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C" } };
  execFileSync(
    join(bin, "initdb"),
    ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
    { ...asUser, stdio: ["ignore", "ignore", "pipe"] },
  );
  const port = await freePort();
  const settings = [
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    `port=${port}`,
    "-c",
    `unix_socket_directories=${dir}`,
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "max_connections=200",
  ];
  const server: ChildProcess = spawn(join(bin, "postgres"), ["-D", data, ...settings], {
    ...asUser,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  server.stderr!.on("data", (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const { default: postgresClient } = await import("postgres");
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`postgres did not start: ${log}`);
    const sql = postgresClient(url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
    try {
      await sql`SELECT 1`;
      await sql.end();
      break;
    } catch (error) {
      await sql.end({ timeout: 0 }).catch(() => {});
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections: ${String(error)} ${log}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  let count = 0;
  const admin = postgresClient(url, { max: 1, onnotice: () => {} });
  return {
    url,
    pid: server.pid!,
    async database(name = `aq_test_${process.pid}_${++count}`) {
      await admin.unsafe(`CREATE DATABASE "${name}"`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await admin.end({ timeout: 1 }).catch(() => {});
      if (server.exitCode === null) {
        // SIGQUIT: immediate shutdown, nothing to keep.
        const exited = new Promise((done) => server.once("exit", done));
        server.kill("SIGQUIT");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One throw-away cluster for a test file: started before its tests, stopped after. Without
 * PostgreSQL installed, outside CI, it says so in one line and `skip` is true (use
 * describe.skipIf, so the tests count as skipped); in CI (CI set) the file fails instead.
 */
export function usePostgres(hooks: {
  beforeAll: (fn: () => Promise<void>, timeout?: number) => void;
  afterAll: (fn: () => Promise<void>, timeout?: number) => void;
}): {
  readonly skip: boolean;
  database(): Promise<string>;
} {
  const missing = postgresMissing();
  if (missing) {
    if (process.env.CI && process.env.CI !== "false" && process.env.CI !== "0")
      throw new Error(`${missing}; in CI they must run (.ci/run installs the package)`);
    process.stderr.write(`${missing}: the PostgreSQL store's tests are skipped\n`);
    return { skip: true, database: () => Promise.reject(new Error(missing)) };
  }
  let cluster: TestCluster | undefined;
  hooks.beforeAll(async () => {
    cluster = await startCluster();
  }, 60_000);
  hooks.afterAll(async () => {
    await cluster?.stop();
  }, 30_000);
  return {
    skip: false,
    database: () => {
      if (!cluster) throw new Error("the PostgreSQL cluster is not up (use database() inside a test)");
      return cluster.database();
    },
  };
}
