import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CoordinatorJob } from "../coordinator/fleet-store.ts";
import { type RunningCoordinator, startCoordinator } from "../coordinator/server.ts";
import { formatDuration } from "../core/duration.ts";
import { Board } from "./fleet-board.ts";
import {
  countMerges,
  type Factory,
  jobBody,
  killFactory,
  killLeftovers,
  makeRepository,
  newFactory,
  resumedFromCheckpoint,
  startFactory,
  stepOneIn,
  stopFactories,
} from "./fleet-fixture.ts";
import { shipReady } from "./fleet-operator.ts";

const LEASE_MS = 4_000;

interface Options {
  readonly jobs?: number;
  readonly keep?: boolean;
  readonly live?: boolean;
}

interface Killed {
  readonly factory: string;
  readonly job: string;
  readonly epoch: number;
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
  const board = new Board(options.live ?? process.stdout.isTTY === true);
  const say = (line: string) => board.say(line);
  const dir = mkdtempSync(join(tmpdir(), "aq-fleet-demo-"));
  const repo = join(dir, "repo");
  let coordinator: RunningCoordinator | undefined;
  const factories = ["factory-a", "factory-b"].map((name) => newFactory(dir, name));
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
    let zombieSent = false;
    let killed: Killed | undefined;
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
      if (killed && !zombieSent) zombieSent = await replayZombie(coordinator, killed, say);
      await shipReady(factories, jobs, shipped, say);
      board.show(coordinator.store.jobs(), factories, shipped);
      await sleep(250);
    }
    await stopFactories(factories);

    const jobs = coordinator.store.jobs();
    const events = coordinator.store.events();
    const mergesPerJob = countMerges(repo, jobs);
    const fencedEvents = events.filter((event) => event.type === "fenced");
    board.summary({
      count,
      factories,
      shipped,
      events,
      tookMs: Date.now() - started,
      timelineJob: killed?.job ?? events.find((event) => event.type === "reclaimed")?.jobId,
    });
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
    killLeftovers(factories);
    await coordinator?.close();
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Midway (once a first job is done), kill the first factory the moment it holds a job whose
 * checkpoint already carries work.
 */
async function maybeKill(
  factories: readonly Factory[],
  repo: string,
  jobs: readonly CoordinatorJob[],
  shipped: ReadonlyMap<string, string>,
): Promise<Killed | undefined> {
  if (shipped.size === 0 && !jobs.some((job) => job.stage === "review" || job.stage === "testing")) return undefined;
  const target = jobs.find(
    (job) =>
      job.stage === "building" && factories.some((f) => f.name === job.factoryId && f.child) && stepOneIn(repo, job),
  );
  const factory = factories.find((f) => f.name === target?.factoryId);
  if (!target || !factory?.child) return undefined;
  await killFactory(factory);
  return { factory: factory.name, job: target.id, epoch: target.leaseEpoch };
}

/**
 * Once the killed factory's job is reclaimed under a higher epoch, send the report its engine
 * would have sent late under the old one, as a zombie would: the coordinator must fence it (409).
 */
async function replayZombie(
  coordinator: RunningCoordinator,
  killed: Killed,
  say: (line: string) => void,
): Promise<boolean> {
  const now = coordinator.store.job(killed.job);
  if (!now || now.leaseEpoch <= killed.epoch) return false;
  const answer = await fetch(`${coordinator.api}/fleet/jobs/${killed.job}`, {
    method: "PATCH",
    headers: { "content-type": "application/json", authorization: `Bearer ${coordinator.token}` },
    body: JSON.stringify({ stage: "review", leaseEpoch: killed.epoch }),
  });
  say(
    `zombie: ${killed.factory}'s late report for ${killed.job} (epoch ${killed.epoch}) → ${answer.status}${answer.status === 409 ? " (fenced)" : ""}`,
  );
  return true;
}
