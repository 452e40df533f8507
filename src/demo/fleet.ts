import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { startCoordinator, type RunningCoordinator } from "../coordinator/server.ts";
import type { CoordinatorJob } from "../coordinator/fleet-store.ts";
import { promote } from "../actions/promote.ts";
import { ship } from "../actions/ship.ts";
import { type Aq, createAq } from "../app.ts";
import { formatDuration } from "../core/duration.ts";
import { oneLine } from "../core/errors.ts";
import { createLogger } from "../core/logger.ts";

const BIN = fileURLToPath(new URL("../../../bin/aq.js", import.meta.url));
const LEASE_MS = 4_000;
const RENEW_SEC = "0.4";

interface Factory {
  readonly name: string;
  readonly dir: string;
  readonly queue: string;
  api: string;
  /** The coordinator's bearer token, given to the factory as AQ_FLEET_TOKEN. */
  token: string;
  child: ChildProcess | undefined;
  log: string;
}

interface Options {
  readonly jobs?: number;
  readonly keep?: boolean;
  readonly live?: boolean;
}

/**
 * The two-factory demo: a development coordinator on a free loopback port, a throw-away git
 * repository, a dozen shell jobs that change it, and two factories draining the queue in
 * parallel. Midway one factory is killed (SIGKILL, engines and all): its lease expires, the other
 * reclaims the job with a higher epoch and resumes it from the checkpointed commit, and the dead
 * factory's late report (replayed here as a zombie would send it) is fenced with a 409. The demo
 * promotes and ships each job as an operator would; it exits 0 only if every job shipped exactly once.
 */
export async function runFleetDemo(options: Options = {}): Promise<number> {
  const started = Date.now();
  const count = options.jobs ?? 12;
  const live = options.live ?? process.stdout.isTTY === true;
  const dir = mkdtempSync(join(tmpdir(), "aq-fleet-demo-"));
  const repo = join(dir, "repo");
  let board = "";
  const say = (line: string) => {
    process.stdout.write(`${line}\n`);
    board = ""; // the live board is drawn afresh below what was said
  };
  let coordinator: RunningCoordinator | undefined;
  const factories: Factory[] = ["factory-a", "factory-b"].map((name) => ({
    name,
    dir: join(dir, name),
    queue: join(dir, name, "queue"),
    api: "",
    token: "",
    child: undefined,
    log: "",
  }));
  try {
    makeRepository(repo);
    coordinator = await startCoordinator({
      port: 0,
      host: "127.0.0.1",
      db: join(dir, "coordinator.sqlite"),
      leaseMs: LEASE_MS,
    });
    say(`coordinator ${coordinator.api} (lease ${formatDuration(LEASE_MS)}), repository ${repo}`);
    for (let n = 1; n <= count; n++)
      coordinator.store.enqueue({
        id: `job-${String(n).padStart(2, "0")}`,
        title: `note ${n}`,
        bodyMd: jobBody(repo, n),
      });
    say(`${count} jobs enqueued; starting ${factories.map((f) => f.name).join(" and ")}`);
    for (const factory of factories) startFactory(factory, coordinator.api, coordinator.token);

    const shipped = new Map<string, string>();
    const fenced: string[] = [];
    let killed: { factory: string; job: string; epoch: number } | undefined;
    const seen = new Map<string, string>();
    const deadline = Date.now() + 90_000;
    while (shipped.size < count && Date.now() < deadline) {
      const jobs = coordinator.store.jobs();
      if (!killed) {
        killed = await maybeKill(factories, repo, jobs, shipped);
        if (killed)
          say(
            `killed ${killed.factory} (SIGKILL, engines too) while it held ${killed.job} under epoch ${killed.epoch}`,
          );
      }
      if (killed && fenced.length === 0) {
        const now = coordinator.store.job(killed.job);
        if (now && now.leaseEpoch > killed.epoch) {
          // The dead factory's engine would have reported review under its old epoch: a zombie.
          const answer = await fetch(`${coordinator.api}/fleet/jobs/${killed.job}`, {
            method: "PATCH",
            headers: { "content-type": "application/json", authorization: `Bearer ${coordinator.token}` },
            body: JSON.stringify({ stage: "review", leaseEpoch: killed.epoch }),
          });
          fenced.push(`${killed.job}: zombie report under epoch ${killed.epoch} answered ${answer.status}`);
          say(
            `zombie: ${killed.factory}'s late report for ${killed.job} (epoch ${killed.epoch}) → ${answer.status}${answer.status === 409 ? " (fenced)" : ""}`,
          );
        }
      }
      await shipReady(factories, jobs, shipped, say);
      const now = coordinator.store.jobs();
      if (live) {
        const next = render(now, factories, shipped);
        process.stdout.write(`${board ? `\u001B[${board.split("\n").length}A\u001B[0J` : ""}${next}\n`);
        board = next;
      } else {
        for (const job of now) {
          const line = `${job.id} ${shipped.has(job.id) ? "shipped" : job.stage} ${job.factoryId ?? shipped.get(job.id) ?? "-"} epoch ${job.leaseEpoch}`;
          if (seen.get(job.id) !== line) say(line);
          seen.set(job.id, line);
        }
      }
      await sleep(250);
    }
    for (const factory of factories) factory.child?.kill("SIGTERM");
    await Promise.all(factories.map((factory) => exited(factory.child)));

    const jobs = coordinator.store.jobs();
    const events = coordinator.store.events();
    const mergesPerJob = countMerges(repo, jobs);
    const reclaimed = events.filter((event) => event.type === "reclaimed");
    const fencedEvents = events.filter((event) => event.type === "fenced");
    say("");
    say(`${"FACTORY".padEnd(12)}${"SHIPPED".padEnd(9)}JOBS`);
    for (const factory of factories) {
      const mine = [...shipped].filter(([, by]) => by === factory.name).map(([job]) => job);
      say(`${factory.name.padEnd(12)}${String(mine.length).padEnd(9)}${mine.join(" ")}`);
    }
    say("");
    say(
      `jobs ${count} · shipped ${shipped.size} · reclaims ${reclaimed.length} · fenced reports ${fencedEvents.length} · wall time ${formatDuration(Date.now() - started)}`,
    );
    const timelineJob = killed?.job ?? reclaimed[0]?.jobId;
    if (timelineJob) {
      say("");
      say(`events of ${timelineJob}:`);
      for (const event of events.filter((e) => e.jobId === timelineJob && e.type !== "renewed")) {
        say(
          `  ${event.at.slice(11, 23)}  ${event.type.padEnd(13)} ${(event.factoryId ?? "").padEnd(10)} epoch ${event.leaseEpoch ?? "-"}  ${event.stage ?? ""}${event.detail && event.type === "fenced" ? `  (${event.detail})` : ""}`,
        );
      }
    }
    const resumed = killed ? resumedFromCheckpoint(factories, killed.job) : undefined;
    if (killed)
      say(
        resumed
          ? `${killed.job} was resumed by ${resumed} from the checkpointed commit (its step 1 was kept, not redone)`
          : `${killed.job} was NOT resumed from its checkpoint`,
      );
    const exactlyOnce = jobs.every((job) => job.stage === "shipped" && mergesPerJob.get(job.id) === 1);
    say("");
    say(
      exactlyOnce
        ? `every job shipped exactly once${killed ? `, after ${killed.factory} was killed holding ${killed.job}` : ""}`
        : "NOT every job shipped exactly once",
    );
    if (!exactlyOnce) {
      for (const job of jobs)
        say(`  ${job.id}: coordinator ${job.stage}, ${mergesPerJob.get(job.id) ?? 0} merge(s) on main`);
      for (const factory of factories)
        say(`${factory.name}'s last log lines:\n${factory.log.trimEnd().split("\n").slice(-8).join("\n")}`);
    }
    if (options.keep) say(`kept in ${dir}`);
    return exactlyOnce && killed !== undefined && resumed !== undefined && fencedEvents.length > 0 ? 0 : 1;
  } finally {
    for (const factory of factories)
      if (factory.child && factory.child.exitCode === null) factory.child.kill("SIGKILL");
    await coordinator?.close();
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

function makeRepository(repo: string): void {
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
function jobBody(repo: string, n: number): string {
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

function startFactory(factory: Factory, api: string, token: string): void {
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

/**
 * Kill the first factory the moment it holds a job whose checkpoint already carries work: the
 * runner and its engines, as a machine dying would.
 */
async function maybeKill(
  factories: Factory[],
  repo: string,
  jobs: CoordinatorJob[],
  shipped: ReadonlyMap<string, string>,
): Promise<{ factory: string; job: string; epoch: number } | undefined> {
  // Midway: once a first job is done, the first factory seen building a job with a checkpoint.
  if (shipped.size === 0 && !jobs.some((job) => job.stage === "review" || job.stage === "testing")) return undefined;
  const target = jobs.find(
    (job) =>
      job.stage === "building" && factories.some((f) => f.name === job.factoryId && f.child) && stepOneIn(repo, job),
  );
  const factory = factories.find((f) => f.name === target?.factoryId);
  if (!target || !factory?.child) return undefined;
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
  return { factory: factory.name, job: target.id, epoch: target.leaseEpoch };
}

/** Which factory ran the killed job again starting from its checkpoint (its log says it resumed). */
function resumedFromCheckpoint(factories: Factory[], job: string): string | undefined {
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

/** Whether the job's checkpoint already holds its committed first step. */
function stepOneIn(repo: string, job: CoordinatorJob): boolean {
  const commit = job.checkpoint?.wipCommit;
  if (!commit) return false;
  try {
    execFileSync("git", ["cat-file", "-e", `${commit}:notes/${job.id}.step1`], { cwd: repo, stdio: "ignore" });
    return true;
  } catch {
    return false;
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

const operators = new Map<string, Promise<Aq>>();

/** The operator's view of a factory's queue: the same actions as `aq promote` and `aq ship`, in this process. */
function operatorOf(factory: Factory): Promise<Aq> {
  let aq = operators.get(factory.dir);
  if (!aq) {
    const logger = createLogger({ level: "error" });
    aq = createAq({
      cwd: factory.dir,
      by: "cli:operator",
      logger,
      env: {
        ...process.env,
        AQ_FLEET: "1",
        AQ_FLEET_API: factory.api,
        AQ_FLEET_TOKEN: factory.token,
        AQ_FACTORY_ID: factory.name,
      },
    });
    operators.set(factory.dir, aq);
  }
  return aq;
}

/** As an operator would: each job in review at the factory holding its current lease is promoted and shipped. */
async function shipReady(
  factories: Factory[],
  jobs: CoordinatorJob[],
  shipped: Map<string, string>,
  say: (line: string) => void,
): Promise<void> {
  for (const job of jobs) {
    if (job.stage !== "review" || shipped.has(job.id)) continue;
    const factory = factories.find((f) => f.name === job.factoryId && f.child);
    if (!factory) continue;
    const local = `fleet-${job.id}-e${job.leaseEpoch}`;
    if (!safeList(join(factory.queue, "review")).includes(local)) continue;
    try {
      const aq = await operatorOf(factory);
      if ((await promote(aq, local)).stage !== "testing") continue;
      await ship(aq, local);
      shipped.set(job.id, factory.name);
    } catch (error) {
      say(`${local}: not shipped this round: ${oneLine(error)}`);
    }
  }
}

function render(jobs: CoordinatorJob[], factories: Factory[], shipped: Map<string, string>): string {
  const rows = jobs.map(
    (job) =>
      `${job.id.padEnd(8)} ${(shipped.has(job.id) ? "shipped" : job.stage).padEnd(9)} ${(job.factoryId ?? shipped.get(job.id) ?? "").padEnd(10)} epoch ${job.leaseEpoch}`,
  );
  const alive = factories.map((f) => `${f.name} ${f.child ? "up" : "DOWN"}`).join(" · ");
  return [alive, ...rows].join("\n");
}

function countMerges(repo: string, jobs: CoordinatorJob[]): Map<string, number> {
  const log = execFileSync("git", ["log", "--first-parent", "--format=%s", "main"], { cwd: repo, encoding: "utf8" });
  const counts = new Map<string, number>();
  for (const job of jobs) {
    const pattern = new RegExp(`^aq: ship fleet-${job.id}-e\\d+$`, "m");
    counts.set(job.id, log.split("\n").filter((line) => pattern.test(line)).length);
  }
  return counts;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function exited(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}
