import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CoordinatorJob } from "../coordinator/fleet-store.ts";

/* The fleet demo's world: a throw-away repository, its jobs, and two factories as real `aq run` processes. */

const BIN = fileURLToPath(new URL("../../../bin/aq.js", import.meta.url));
const RENEW_SEC = "0.4";

export interface Factory {
  readonly name: string;
  readonly dir: string;
  readonly queue: string;
  api: string;
  /** The coordinator's bearer token, given to the factory as AQ_FLEET_TOKEN. */
  token: string;
  child: ChildProcess | undefined;
  log: string;
}

export function newFactory(root: string, name: string): Factory {
  const dir = join(root, name);
  return { name, dir, queue: join(dir, "queue"), api: "", token: "", child: undefined, log: "" };
}

export function makeRepository(repo: string): void {
  mkdirSync(repo, { recursive: true });
  const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  git("config", "user.name", "aq demo");
  git("config", "user.email", "demo@localhost");
  writeFileSync(join(repo, "README.md"), "# fleet demo repository\n");
  git("add", "-A");
  git("commit", "-q", "-m", "initial");
}

/** A job as an agent would do it: a first step committed on its own (the checkpoint), then the rest. */
export function jobBody(repo: string, n: number): string {
  const name = `notes/job-${String(n).padStart(2, "0")}`;
  return [
    "---",
    "engine: shell",
    `cwd: ${repo}`,
    "timeout: 1m",
    "---",
    "mkdir -p notes",
    `if [ -f ${name}.step1 ]; then echo "resuming: step 1 is already done"; else`,
    `  echo "step 1 of job ${n}" > ${name}.step1 && git add -A && git commit -qm "job ${n}: step 1"`,
    "fi",
    "sleep 2",
    `echo "job ${n} done" > ${name}.txt`,
    "",
  ].join("\n");
}

export function startFactory(factory: Factory, api: string, token: string): void {
  factory.api = api;
  factory.token = token;
  mkdirSync(factory.dir, { recursive: true });
  writeFileSync(
    join(factory.dir, "aq.config.json"),
    JSON.stringify({ defaults: { engine: "shell" }, pollInterval: "200ms", killGrace: "1s", concurrency: 2 }),
  );
  const child = spawn(process.execPath, [BIN, "run", "--concurrency", "2"], {
    cwd: factory.dir,
    env: {
      ...process.env,
      AQ_FLEET: "1",
      AQ_FLEET_API: api,
      AQ_FLEET_TOKEN: token,
      AQ_FACTORY_ID: factory.name,
      AQ_FLEET_LEASE_RENEW_SEC: RENEW_SEC,
      NO_COLOR: "1",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", (chunk: Buffer) => (factory.log += chunk.toString()));
  factory.child = child;
}

/** The runner and its engines die at once (SIGKILL), as a machine dying would. */
export async function killFactory(factory: Factory): Promise<void> {
  if (!factory.child) return;
  factory.child.kill("SIGKILL");
  for (const pgid of enginesOf(factory)) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await exited(factory.child);
  factory.child = undefined;
}

export async function stopFactories(factories: readonly Factory[]): Promise<void> {
  for (const factory of factories) factory.child?.kill("SIGTERM");
  await Promise.all(factories.map((factory) => exited(factory.child)));
}

export function killLeftovers(factories: readonly Factory[]): void {
  for (const factory of factories) if (factory.child && factory.child.exitCode === null) factory.child.kill("SIGKILL");
}

/** Whether the job's checkpoint already holds its committed first step. */
export function stepOneIn(repo: string, job: CoordinatorJob): boolean {
  const commit = job.checkpoint?.wipCommit;
  if (!commit) return false;
  try {
    execFileSync("git", ["cat-file", "-e", `${commit}:notes/${job.id}.step1`], { cwd: repo, stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Which factory ran the killed job again starting from its checkpoint (its log says it resumed). */
export function resumedFromCheckpoint(factories: readonly Factory[], job: string): string | undefined {
  for (const factory of factories) {
    for (const stage of ["shipped", "testing", "review"]) {
      for (const id of safeList(join(factory.queue, stage)).filter(
        (name) => name.startsWith(`fleet-${job}-e`) && !name.endsWith("-e1"),
      )) {
        const log = readFileSync(join(factory.queue, stage, id, "log.txt"), { encoding: "utf8", flag: "r" });
        if (log.includes("resuming: step 1 is already done")) return factory.name;
      }
    }
  }
  return undefined;
}

/** How many times each job was merged into main (exactly once is the point). */
export function countMerges(repo: string, jobs: readonly CoordinatorJob[]): Map<string, number> {
  const log = execFileSync("git", ["log", "--first-parent", "--format=%s", "main"], { cwd: repo, encoding: "utf8" });
  const counts = new Map<string, number>();
  for (const job of jobs) {
    const pattern = new RegExp(`^aq: ship fleet-${job.id}-e\\d+$`, "m");
    counts.set(job.id, log.split("\n").filter((line) => pattern.test(line)).length);
  }
  return counts;
}

export function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function enginesOf(factory: Factory): number[] {
  const building = join(factory.queue, "building");
  const pgids: number[] = [];
  for (const id of safeList(building)) {
    try {
      const meta = JSON.parse(readFileSync(join(building, id, "meta.json"), "utf8")) as { engine?: { pgid: number } };
      if (meta.engine?.pgid !== undefined) pgids.push(meta.engine.pgid);
    } catch {
      // a job mid-write
    }
  }
  return pgids;
}

function exited(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}
