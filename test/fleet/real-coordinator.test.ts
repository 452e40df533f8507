import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { platform } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeEach, describe, expect, it } from "vitest";
import { useDispatcher } from "../../plugins/shared/http.ts";
import { promote } from "../../src/actions/promote.ts";
import { ship } from "../../src/actions/ship.ts";
import type { RunningCoordinator } from "../../src/coordinator/server.ts";
import { aq as cli, waitFor, writeTestConfig } from "../helpers/cli.ts";
import { kindOf } from "../helpers/fleet-mock.ts";
import {
  coordinator,
  devJob,
  fleetAq,
  fleetOf,
  localId,
  outboxIn,
  PRODUCT,
  PROMPT,
  recordingProxy,
  sendJson,
  TOKEN,
} from "../helpers/fleet-world.ts";
import { git, gitRepo } from "../helpers/git.ts";
import { metaOf, pathOf, stageOf } from "../helpers/jobs.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * The brief's fleet test cases once more, against the real development coordinator over
 * loopback HTTP (SQLite state, real leases and epochs): what the coordinator ends up knowing
 * (jobs, events, runs, factories) is the assertion. A recording proxy in front shows the wire.
 */

const CAPS = ["os:linux", "engine:shell"];
const ID = localId("J1", 1);

beforeEach(() => useDispatcher(undefined));

async function enqueue(coord: RunningCoordinator, job: Record<string, unknown>) {
  const answer = await sendJson("POST", `${coord.api}/dev/jobs`, job, TOKEN);
  expect(answer.status, answer.text).toBe(201);
}

async function realWorld(options: { leaseMs?: number; env?: Record<string, string>; db?: string } = {}) {
  const coord = await coordinator({
    leaseMs: options.leaseMs ?? 60_000,
    token: TOKEN,
    ...(options.db ? { db: options.db } : {}),
  });
  const proxy = await recordingProxy(coord.api);
  const dir = tempDir("aq-fleet-real-");
  const fleet = await fleetAq(dir, { AQ_FLEET_API: proxy.api, ...options.env });
  return { coord, proxy, dir, ...fleet };
}

/** `aq run --drain` of the compiled CLI on the same queue, as factory-a (a process: nothing of it outlives the run). */
async function cliDrain(dir: string, api: string, env: Record<string, string> = {}) {
  requireBuild();
  const result = await cli(["run", "--drain"], {
    cwd: dir,
    env: {
      AQ_FLEET: "1",
      AQ_FLEET_API: api,
      AQ_FLEET_TOKEN: TOKEN,
      AQ_PRODUCT_ID: PRODUCT,
      AQ_FACTORY_ID: "factory-a",
      AQ_FLEET_LEASE_RENEW_SEC: "0.2",
      ...env,
    },
  });
  expect(result.code, result.stderr).toBe(0);
  return result;
}

/** The coordinator's events for a job as "type stage epoch factory", renewals left out. */
function story(coord: RunningCoordinator, id = "J1"): string[] {
  return coord.store
    .events(id)
    .filter((event) => event.type !== "renewed")
    .map((event) => [event.type, event.stage ?? "-", event.leaseEpoch ?? "-", event.factoryId ?? "-"].join(" "));
}

describe("against the development coordinator", () => {
  it("1. registers with its first heartbeat: the coordinator knows the factory, its capabilities, health and load", async () => {
    const w = await realWorld();
    await w.drain();
    const factories = w.coord.store.factories();
    expect(factories).toEqual([
      {
        id: "factory-a",
        capabilities: expect.arrayContaining([`os:${platform()}`, "engine:shell"]),
        health: "draining",
        load: 0,
        lastSeen: expect.any(String),
        heartbeats: expect.any(Number),
        mode: "fleet",
      },
    ]);
    expect(factories[0]!.heartbeats).toBeGreaterThanOrEqual(2);
    const first = w.proxy.requests[0]!;
    expect(`${first.method} ${first.path}`).toBe("POST /api/fleet/factories/heartbeat");
    expect(first.json).toMatchObject({ factoryId: "factory-a", health: "ok", load: 0 });
    expect(first.status).toBe(200);
    for (const request of w.proxy.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request.headers["x-product-id"]).toBe(PRODUCT);
    }
  });

  it("2. a claimed job is materialized with its lease (origin fleet, epoch from the coordinator) and run to review/", async () => {
    const w = await realWorld();
    await enqueue(w.coord, devJob("J1", `echo done > "${"$"}AQ_QUEUE_DIR/../ran.txt"`));
    const summary = await w.drain();
    expect(summary.outcomes).toEqual({ [ID]: "review" });
    const meta = metaOf(w.queue, ID);
    expect(meta.origin).toEqual({ kind: "fleet", jobId: "J1" });
    expect(meta.fleet).toEqual({
      jobId: "J1",
      leaseEpoch: 1,
      leaseExpiresAt: expect.any(String),
      factoryId: "factory-a",
    });
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "review"]);
    expect(readFileSync(join(w.dir, "ran.txt"), "utf8")).toBe("done\n");
    expect(w.coord.store.job("J1")).toMatchObject({ stage: "review", leaseEpoch: 1, factoryId: "factory-a" });
    expect(story(w.coord)).toEqual([
      "enqueued queued - -",
      "claimed assigned 1 factory-a",
      "stage building 1 factory-a",
      "stage review 1 factory-a",
    ]);
    expect(w.coord.store.runs("J1")).toEqual([
      expect.objectContaining({ factoryId: "factory-a", leaseEpoch: 1, outcome: null }),
    ]);
  });

  it("3. reports building with the checkpoint, review and (after promote) testing; the coordinator keeps the checkpoint", async () => {
    const repo = gitRepo(join(tempDir("aq-fleet-repo-"), "repo"));
    const base = git(repo, "rev-parse", "HEAD");
    const w = await realWorld();
    await enqueue(w.coord, devJob("J1", "echo work > work.txt", { cwd: repo }));
    await w.drain();
    const wip = metaOf(w.queue, ID).wip!;
    await promote(w.aq, ID);
    const stages = w.coord.store.events("J1").filter((event) => event.type === "stage");
    expect(
      stages.map((event) => [event.stage, event.leaseEpoch, event.detail ? JSON.parse(event.detail) : null]),
    ).toEqual([
      ["building", 1, { wipBranch: `aq/${ID}`, wipCommit: base }],
      ["review", 1, { wipBranch: `aq/${ID}`, wipCommit: wip.commit }],
      ["testing", 1, { wipBranch: `aq/${ID}`, wipCommit: wip.commit }],
    ]);
    expect(w.coord.store.job("J1")).toMatchObject({
      stage: "testing",
      checkpoint: { wipBranch: `aq/${ID}`, wipCommit: wip.commit },
    });
    expect(w.proxy.of("report").map((request) => request.status)).toEqual([200, 200, 200]);
  });

  /**
   * factory-a claims J1; its building report is held up longer than the lease, meanwhile
   * factory-b claims the job (epoch 2), so the report arrives with a stale epoch.
   */
  async function fencedOnBuildingReport(renewSec: string) {
    const w = await realWorld({ leaseMs: 200, env: { AQ_FLEET_LEASE_RENEW_SEC: renewSec } });
    await enqueue(w.coord, devJob("J1", `touch "${"$"}AQ_QUEUE_DIR/../engine-ran"`));
    let taken: unknown;
    w.proxy.before = async (request) => {
      if (kindOf(request) === "report" && request.json?.stage === "building" && !taken) {
        await sleep(300);
        taken = w.coord.store.claim("factory-b", CAPS);
      }
    };
    await w.drain();
    expect(taken).toMatchObject({ reclaimed: true, job: { leaseEpoch: 2, factoryId: "factory-b" } });
    return w;
  }

  it("4. FENCING: a building report answered 409 (the lease expired and another factory took the job) aborts the job; it is never shipped", async () => {
    const w = await fencedOnBuildingReport("5");
    // Its only report was the building one under epoch 1, refused (and never sent again).
    const reports = w.proxy.of("report");
    expect(reports[0]).toMatchObject({ json: { stage: "building", leaseEpoch: 1 }, status: 409 });
    for (const report of reports)
      expect(report).toMatchObject({ json: { stage: "building", leaseEpoch: 1 }, status: 409 });
    expect(stageOf(w.queue, ID)).toBe("failed");
    const meta = metaOf(w.queue, ID);
    expect(meta.reason).toBe("fenced");
    expect((meta.events as any[]).map((event) => event.type)).toEqual(["fenced-abort"]);
    expect(existsSync(join(w.dir, "engine-ran"))).toBe(false);
    expect(w.lines().filter((line) => line.includes("fenced-abort"))).toEqual([
      expect.stringMatching(new RegExp(`^${ID}: fenced-abort: lease epoch 1 of J1 is stale`)),
    ]);
    await expect(ship(w.aq, ID, { force: true })).rejects.toThrow(/only a job in testing/);
    // The coordinator's state is factory-b's; factory-a changed nothing.
    expect(w.coord.store.job("J1")).toMatchObject({ leaseEpoch: 2, factoryId: "factory-b", stage: "assigned" });
    const told = story(w.coord);
    expect(told.slice(0, 5)).toEqual([
      "enqueued queued - -",
      "claimed assigned 1 factory-a",
      "lease-expired assigned 1 factory-a",
      "reclaimed assigned 2 factory-b",
      "fenced building 1 -",
    ]);
    expect(new Set(told.slice(4))).toEqual(new Set(["fenced building 1 -"]));
    expect(w.proxy.of("release")).toEqual([]);
  });

  // Regression (fixed; plugins/fleet/outbox.ts fenced() "deferred" + index.ts/heartbeat.ts flushAll): while the
  // live building report is in flight, a heartbeat sees it waiting and delivers the same report
  // again (flushAll); its 409 runs fenced(id, "deferred") during the live fence's
  // building → failed move, reads failed/ with the old meta.json (no reason yet), and quarantines
  // the job as "fenced while offline". docs/design.md ("The fleet plugin") says a 409 moves the job to failed/fenced.
  it("4. FENCING with heartbeats during the refused report: the job still ends failed/fenced, not quarantined", async () => {
    const w = await fencedOnBuildingReport("0.1");
    expect(stageOf(w.queue, ID)).toBe("failed");
    expect(metaOf(w.queue, ID).reason).toBe("fenced");
  });

  it("4. aq ship of a fleet job whose lease was taken over while it sat in review is refused and quarantined, nothing merged", async () => {
    const repo = gitRepo(join(tempDir("aq-fleet-repo-"), "repo"));
    const base = git(repo, "rev-parse", "main");
    // A lease long enough for a drain on a busy machine (a CLI start, a worktree, a commit).
    const w = await realWorld({ leaseMs: 4_000 });
    await enqueue(w.coord, devJob("J1", "echo work > work.txt", { cwd: repo }));
    await cliDrain(w.dir, w.proxy.api);
    expect(stageOf(w.queue, ID)).toBe("review");
    // Its factory is not running: nobody renews the lease, it expires and factory-b takes the job.
    const taken = await waitFor(() => w.coord.store.claim("factory-b", CAPS), 30_000, "the lease to expire");
    expect(taken.job.leaseEpoch).toBe(2);
    await expect(ship(w.aq, ID, { force: true })).rejects.toThrow(/refused: lease epoch 1 is stale \(409\)/);
    expect(stageOf(w.queue, ID)).toBe("quarantine");
    expect(git(repo, "rev-parse", "main")).toBe(base);
    expect(w.coord.store.job("J1")).toMatchObject({ leaseEpoch: 2, factoryId: "factory-b" });
    expect(w.coord.store.events("J1").some((event) => event.type === "stage" && event.stage === "shipped")).toBe(false);
  });

  it("5. renews the lease while building, so a job longer than the lease keeps it", async () => {
    const w = await realWorld({ leaseMs: 500 });
    await enqueue(w.coord, devJob("J1", "sleep 1.2"));
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("review");
    const events = w.coord.store.events("J1");
    // At least three renewals reached the coordinator; its timeline keeps one event per run of them.
    expect(w.proxy.of("renew").length).toBeGreaterThanOrEqual(3);
    const renewed = events.filter((event) => event.type === "renewed");
    expect(renewed.length).toBeGreaterThanOrEqual(1);
    for (const event of renewed) expect(event).toMatchObject({ leaseEpoch: 1, factoryId: "factory-a" });
    expect(events.map((event) => event.type)).not.toContain("lease-expired");
    const claimed = Date.parse(events.find((event) => event.type === "claimed")!.at);
    const review = events.find((event) => event.type === "stage" && event.stage === "review")!;
    expect(Date.parse(review.at) - claimed).toBeGreaterThan(500);
    expect(w.proxy.of("renew").every((request) => request.json.leaseEpoch === 1 && request.status === 200)).toBe(true);
    expect(w.coord.store.job("J1")).toMatchObject({ stage: "review", leaseEpoch: 1, factoryId: "factory-a" });
  });

  it("5. a renew answered 409 (renewals slower than the lease, another factory claimed it) kills the engine before it finishes", async () => {
    const w = await realWorld({ leaseMs: 300, env: { AQ_FLEET_LEASE_RENEW_SEC: "0.7" } });
    await enqueue(w.coord, devJob("J1", `sleep 2.5\ntouch "${"$"}AQ_QUEUE_DIR/../finished"`));
    const started = Date.now();
    const running = w.once();
    try {
      // factory-b takes the job once factory-a reported building, so what fences factory-a is its renew.
      await waitFor(
        () => w.coord.store.events("J1").some((event) => event.type === "stage" && event.stage === "building"),
        30_000,
        "factory-a building",
      );
      const taken = await waitFor(() => w.coord.store.claim("factory-b", CAPS), 30_000, "the lease to expire");
      expect(taken.job.leaseEpoch).toBe(2);
    } finally {
      await running;
    }
    // The run waits for the engine: had it run to its end, the marker would be there now.
    expect(existsSync(join(w.dir, "finished"))).toBe(false);
    expect(stageOf(w.queue, ID)).toBe("failed");
    const meta = metaOf(w.queue, ID);
    expect(meta.reason).toBe("fenced");
    expect((meta.events as any[])[0].detail).toMatch(/renew of J1 \(epoch 1\) answered 409/);
    expect(w.proxy.of("renew")[0]).toMatchObject({ json: { leaseEpoch: 1 }, status: 409 });
    expect(
      w.coord.store
        .events("J1")
        .filter((event) => event.type === "fenced")
        .map((event) => event.detail),
    ).toContain("renew with stale epoch 1; current 2");
    await sleep(Math.max(0, started + 2_800 - Date.now()));
    expect(existsSync(join(w.dir, "finished"))).toBe(false);
  });

  it("6. offline-degrade: the coordinator closes mid-job, the job completes to review with its report waiting; after a reclaim the late report is refused and the job is quarantined", async () => {
    requireBuild();
    const db = join(tempDir("aq-fleet-db-"), "coordinator.sqlite");
    const first = await coordinator({ db, leaseMs: 400, token: TOKEN });
    const port = Number(new URL(first.url).port);
    const dir = tempDir("aq-fleet-real-");
    const w = await fleetAq(dir, { AQ_FLEET_API: first.api });
    await enqueue(
      first,
      devJob("J1", `i=0; while [ ! -f "${"$"}AQ_QUEUE_DIR/../go" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done`),
    );
    const running = w.drain();
    try {
      await waitFor(
        () => first.store.events("J1").some((event) => event.type === "stage" && event.stage === "building"),
        5_000,
        "the building report",
      );
      await first.close();
    } finally {
      writeFileSync(join(dir, "go"), "");
      await running;
    }
    expect(stageOf(w.queue, ID)).toBe("review");
    expect(outboxIn(metaOf(w.queue, ID))).toEqual([{ stage: "review", leaseEpoch: 1, at: expect.any(String) }]);
    expect(w.loudLines().filter((line) => line.includes("working offline"))).toHaveLength(1);

    // Back on the same file and port, after the lease ran out; another factory takes the job.
    await sleep(450);
    const again = await coordinator({ db, port, leaseMs: 60_000, token: TOKEN });
    expect(again.store.job("J1")).toMatchObject({ stage: "building", leaseEpoch: 1, factoryId: "factory-a" });
    expect(again.store.claim("factory-b", CAPS)).toMatchObject({ reclaimed: true, job: { leaseEpoch: 2 } });

    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("quarantine");
    expect(metaOf(w.queue, ID).reason).toMatch(/^fenced while offline: lease epoch 1 of J1 is stale/);
    expect(again.store.job("J1")).toMatchObject({ stage: "assigned", leaseEpoch: 2, factoryId: "factory-b" });
    expect(again.store.events("J1").filter((event) => event.type === "fenced")[0]).toMatchObject({
      leaseEpoch: 1,
      stage: "review",
    });
    expect(again.store.events("J1").some((event) => event.type === "stage" && event.stage === "review")).toBe(false);

    const env = { AQ_FLEET: "1", AQ_FLEET_API: again.api, AQ_FLEET_TOKEN: TOKEN, AQ_FACTORY_ID: "factory-a" };
    const human = await cli(["status"], { cwd: dir, env });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^factory factory-a$/m);
    expect(human.stdout).toMatch(/^!! 1 quarantined job\(s\) need a person/m);
    expect(human.stdout).toContain(`${ID} (fleet J1, epoch 1)`);
    const shipped = await cli(["ship", ID, "--force"], { cwd: dir, env });
    expect(shipped.code).toBe(1);
    expect(stageOf(w.queue, ID)).toBe("quarantine");
  });

  it("7. no-leak (CLI): no request carries the prompt or the token, the logs carry neither, and the engine never sees the token", async () => {
    requireBuild();
    const coord = await coordinator({ token: TOKEN });
    const proxy = await recordingProxy(coord.api);
    const dir = tempDir("aq-fleet-leak-");
    writeTestConfig(dir);
    await enqueue(
      coord,
      devJob("J1", `env > "${"$"}AQ_QUEUE_DIR/../engine-env.txt"\necho "${PROMPT}" > /dev/null\nsleep 0.5`),
    );
    const env = {
      AQ_FLEET: "1",
      AQ_FLEET_API: proxy.api,
      AQ_FLEET_TOKEN: TOKEN,
      AQ_PRODUCT_ID: PRODUCT,
      AQ_FACTORY_ID: "factory-leak",
      AQ_FLEET_LEASE_RENEW_SEC: "0.15",
      AQ_LOG_LEVEL: "debug",
    };
    const run = await cli(["run", "--drain"], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    const shipped = await cli(["ship", ID, "--force"], { cwd: dir, env });
    expect(shipped.code, shipped.stderr).toBe(0);
    expect(coord.store.job("J1")).toMatchObject({ stage: "shipped", factoryId: null });
    expect(new Set(proxy.requests.map(kindOf))).toEqual(new Set(["heartbeat", "claim", "report", "renew", "release"]));
    for (const request of proxy.requests) {
      expect(request.body).not.toContain(PROMPT);
      expect(request.body).not.toContain(TOKEN);
      expect(request.path).not.toContain(TOKEN);
    }
    for (const output of [run.stdout, run.stderr, shipped.stdout, shipped.stderr]) {
      expect(output).not.toContain(TOKEN);
      expect(output).not.toContain(PROMPT);
    }
    expect(run.stderr).toMatch(/claimed fleet job J1/);
    const engineEnv = readFileSync(join(dir, "engine-env.txt"), "utf8");
    expect(engineEnv).toMatch(/^AQ_JOB_ID=fleet-J1-e1$/m);
    expect(engineEnv).not.toContain(TOKEN);
    expect(engineEnv).not.toMatch(/^AQ_FLEET_TOKEN=/m);
  });

  it("8. shipping a fleet job reports shipped and releases the lease with its epoch: the coordinator's run ends as shipped", async () => {
    const repo = gitRepo(join(tempDir("aq-fleet-repo-"), "repo"));
    const w = await realWorld();
    await enqueue(w.coord, devJob("J1", "echo shipped > work.txt", { cwd: repo }));
    await cliDrain(w.dir, w.proxy.api);
    await promote(w.aq, ID);
    const before = w.proxy.requests.length;
    await ship(w.aq, ID);
    const calls = w.proxy.requests.slice(before);
    expect(
      calls.map((request) => [
        `${request.method} ${request.path}`,
        request.json.leaseEpoch,
        request.json.stage,
        request.status,
      ]),
    ).toEqual([
      ["POST /api/fleet/jobs/J1/lease/renew", 1, undefined, 200],
      ["PATCH /api/fleet/jobs/J1", 1, "shipped", 200],
      ["POST /api/fleet/jobs/J1/lease/release", 1, undefined, 200],
    ]);
    expect(w.coord.store.job("J1")).toMatchObject({
      stage: "shipped",
      factoryId: null,
      leaseExpiresAt: null,
      leaseEpoch: 1,
    });
    expect(story(w.coord).slice(-3)).toEqual([
      "stage testing 1 factory-a",
      "stage shipped 1 factory-a",
      "released shipped 1 factory-a",
    ]);
    expect(w.coord.store.runs("J1")).toEqual([
      expect.objectContaining({
        factoryId: "factory-a",
        leaseEpoch: 1,
        outcome: "shipped",
        endedAt: expect.any(String),
      }),
    ]);
    expect(git(repo, "show", "main:work.txt")).toBe("shipped");
    expect(fleetOf(metaOf(w.queue, ID)).leaseEpoch).toBe(1);
  });
});
