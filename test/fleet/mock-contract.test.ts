import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, platform } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { promote } from "../../src/actions/promote.ts";
import { ship } from "../../src/actions/ship.ts";
import { collectStatus } from "../../src/core/status.ts";
import { aq as cli, waitFor } from "../helpers/cli.ts";
import { kindOf, MOCK_API, MockCoordinator, NETWORK_ERROR, type MockFleetJob } from "../helpers/fleet-mock.ts";
import { fleetAq, fleetOf, localId, outboxIn, PRODUCT, PROMPT, TOKEN } from "../helpers/fleet-world.ts";
import { git, gitRepo } from "../helpers/git.ts";
import { metaOf, pathOf, stageOf } from "../helpers/jobs.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * The brief's fleet test cases, each against a fake coordinator behind undici's MockAgent, so
 * that every request the factory makes is asserted exactly (method, path, headers, body).
 */

const ID = localId("J1", 7);
let mock: MockCoordinator | undefined;

afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

function job(bodyMd: string, options: Record<string, unknown> = {}): MockFleetJob {
  return { id: "J1", bodyMd, options: { engine: "shell", ...options }, leaseEpoch: 7 };
}

async function world(jobs: MockFleetJob[], env: Record<string, string | undefined> = {}) {
  mock = new MockCoordinator(jobs).install();
  const dir = tempDir("aq-fleet-mock-");
  const fleet = await fleetAq(dir, { AQ_FLEET_API: MOCK_API, ...env });
  return { dir, mock, ...fleet };
}

/** The first periodic heartbeat is answered only 50 ms after the runner's goodbye beat; resolves then. */
function holdFirstPeriodicBeat(coordinator: MockCoordinator): Promise<void> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let beats = 0;
  coordinator.answer = async (request) => {
    if (kindOf(request) !== "heartbeat") return undefined;
    beats++;
    if (request.json.health === "draining") setTimeout(release, 50);
    else if (beats === 2) await held;
    return undefined;
  };
  return held;
}

const bodies = (requests: { json: any }[]) => requests.map((request) => request.json);
const fencedAborts = (meta: any) => (meta.events ?? []).filter((event: any) => event.type === "fenced-abort");

/**
 * Holds the first renew of J1 that comes while J2 is in review too (a periodic beat renewing the
 * jobs held in review, J1 first) until `release` is called; `answered` resolves once it is answered.
 */
function holdRenewOfHeld(coordinator: MockCoordinator, queue: string) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let holding = false;
  let answered = false;
  coordinator.answer = async (request) => {
    if (holding || request.path !== "/api/fleet/jobs/J1/lease/renew") return undefined;
    if (stageOf(queue, localId("J2", 7)) !== "review") return undefined;
    holding = true;
    await held;
    answered = true;
    return undefined;
  };
  return { release, wasHeld: () => holding, answered: () => answered };
}

describe("1. heartbeat / register", () => {
  it("registers with a heartbeat when the loop starts: factoryId, detected capabilities, health ok, load, bearer token and product id", async () => {
    const w = await world([], { AQ_FLEET_LEASE_RENEW_SEC: "5" });
    await w.drain();
    const first = w.mock.requests[0]!;
    expect(`${first.method} ${first.path}`).toBe("POST /api/fleet/factories/heartbeat");
    expect(first.json).toEqual({ factoryId: "factory-a", capabilities: expect.any(Array), health: "ok", load: 0 });
    expect(first.json.capabilities).toContain(`os:${platform()}`);
    expect(first.json.capabilities).toContain("engine:shell");
    expect(first.json.capabilities).toContain("tool:git");
    for (const request of w.mock.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(request.headers["x-product-id"]).toBe(PRODUCT);
      expect(request.headers["content-type"]).toMatch(/^application\/json/);
    }
    // The heartbeat comes before any claim; the claim carries the same identity and capabilities.
    expect(w.mock.calls({ heartbeats: true })).toEqual([
      "POST /api/fleet/factories/heartbeat",
      "POST /api/fleet/claim",
      "POST /api/fleet/factories/heartbeat",
    ]);
    expect(w.mock.of("claim")[0]!.json).toEqual({ factoryId: "factory-a", capabilities: first.json.capabilities });
    // The last heartbeat says the runner is going away.
    expect(w.mock.requests.at(-1)!.json).toMatchObject({ factoryId: "factory-a", health: "draining" });
  });

  it("heartbeats again every AQ_FLEET_LEASE_RENEW_SEC while the runner lives", async () => {
    const w = await world([]);
    await w.addLocal("local-1", "sleep 0.9");
    const started = Date.now();
    await w.drain();
    const beats = w.mock.of("heartbeat");
    const periodic = beats.slice(1, -1);
    expect(periodic.length).toBeGreaterThanOrEqual(3);
    expect(periodic.length).toBeLessThanOrEqual(6);
    // While the job runs the factory is "ok"; a beat that falls after the queue ran dry, while the
    // runner winds down, rightly says "draining" (it stopped claiming), as the last one always does.
    const review = Date.parse(metaOf(w.queue, "local-1").history.find((entry) => entry.to === "review")!.at);
    for (const beat of periodic) {
      expect(beat.json).toMatchObject({ factoryId: "factory-a" });
      if (beat.at < review) expect(beat.json).toMatchObject({ health: "ok" });
    }
    expect(periodic.filter((beat) => beat.at < review).length).toBeGreaterThanOrEqual(2);
    const gaps = periodic.map((beat, i) => beat.at - (i === 0 ? beats[0]!.at : periodic[i - 1]!.at));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(150);
    expect(beats[0]!.at - started).toBeLessThan(500);
  });

  it("heartbeats sent while a job runs report load = running jobs / slots (1 with the only slot busy)", async () => {
    const w = await world([]);
    await w.addLocal("local-1", "sleep 0.9");
    await w.drain();
    const meta = metaOf(w.queue, "local-1");
    const building = Date.parse(meta.history.find((entry) => entry.to === "building")!.at);
    const review = Date.parse(meta.history.find((entry) => entry.to === "review")!.at);
    const during = w.mock.of("heartbeat").filter((beat) => beat.at > building + 50 && beat.at < review - 50);
    expect(during.length).toBeGreaterThanOrEqual(2);
    for (const beat of during) expect(beat.json.load).toBe(1);
  });

  // Regression (fixed; plugins/fleet/heartbeat.ts start()/stop()): a periodic beat still in flight when the
  // runner stops re-arms its timer in `.finally(next)` after stop() cleared it, so heartbeats
  // (and, with renewHeld, lease renewals) go on for ever after the runner stopped, all saying
  // "draining". A CLI process exits anyway (the timer is unref'd); an embedding process does not.
  it("sends no heartbeat after the runner stopped, even when one was in flight as it stopped", async () => {
    const w = await world([]);
    holdFirstPeriodicBeat(w.mock);
    await w.addLocal("local-1", "sleep 0.4");
    await w.drain();
    const goodbye = w.mock.requests.findIndex((request) => request.json?.health === "draining");
    expect(goodbye).toBeGreaterThan(0);
    await sleep(700);
    expect(
      w.mock.requests
        .slice(goodbye + 1)
        .map((request) => `${request.method} ${request.path} ${request.json?.health ?? ""}`),
    ).toEqual([]);
  });

  // Regression (seen with two npm test side by side): the beat in flight as the runner stopped, answered after
  // the goodbye, renewed the leases of the jobs held in review, so a renew followed `aq run`'s end.
  // Regression (seen with two npm test side by side): a beat whose heartbeat was answered before the runner
  // stopped went on renewing the jobs held in review after it stopped, so a renew followed `aq run`'s end.
  it("renews no further lease after the runner stopped in the middle of a beat's renewals", async () => {
    const fleetJob = (id: string, body: string): MockFleetJob => ({
      id,
      bodyMd: `---\nengine: shell\n---\n${body}\n`,
      options: { engine: "shell" },
      leaseEpoch: 7,
    });
    const w = await world([fleetJob("J1", "true"), fleetJob("J2", "true"), fleetJob("J3", "sleep 0.6")]);
    const renew = holdRenewOfHeld(w.mock, w.queue);
    await w.drain();
    for (const id of ["J1", "J2", "J3"]) expect(stageOf(w.queue, localId(id, 7))).toBe("review");
    expect(renew.wasHeld()).toBe(true);
    const stopped = w.mock.requests.length;
    renew.release();
    await waitFor(renew.answered, 5_000, "the held renew answered");
    // What the beat would send next follows its renew's answer at once.
    await sleep(300);
    expect(w.mock.requests.slice(stopped).map((request) => `${request.method} ${request.path}`)).toEqual([]);
  });

  it("renews no lease after the runner stopped, even from a beat that was in flight as it stopped", async () => {
    const w = await world([job("sleep 0.4")]);
    const held = holdFirstPeriodicBeat(w.mock);
    await w.drain();
    const stopped = w.mock.requests.length;
    expect(stageOf(w.queue, ID)).toBe("review");
    expect(w.mock.requests.some((request) => request.json?.health === "draining")).toBe(true);
    // The held beat is answered 50 ms after the goodbye; what it would send follows at once.
    await held;
    await sleep(700);
    expect(w.mock.requests.slice(stopped).map((request) => `${request.method} ${request.path}`)).toEqual([]);
  });

  it("without AQ_FACTORY_ID the factory id is the hostname plus a short random part, the same in every call and in meta", async () => {
    const w = await world([job("true")], { AQ_FACTORY_ID: undefined });
    await w.drain();
    const ids = new Set(
      w.mock.requests.filter((request) => request.json?.factoryId).map((request) => request.json.factoryId),
    );
    expect(ids.size).toBe(1);
    const factoryId = [...ids][0] as string;
    expect(factoryId.startsWith(`${hostname()}-`)).toBe(true);
    expect(factoryId.slice(hostname().length + 1)).toMatch(/^[0-9a-f]{4,}$/);
    expect(fleetOf(metaOf(w.queue, ID)).factoryId).toBe(factoryId);
  });

  it("without AQ_FLEET_API it talks to http://localhost:4003/api", async () => {
    mock = new MockCoordinator([], "http://localhost:4003").install();
    const w = await fleetAq(tempDir("aq-fleet-mock-"), {});
    await w.drain();
    expect(mock.requests.map((request) => `${request.method} ${request.path}`)[0]).toBe(
      "POST /api/fleet/factories/heartbeat",
    );
    expect(mock.of("claim")).toHaveLength(1);
  });

  it("with AQ_FLEET unset, ['fleet', { enabled: true, ... }] in the config turns it on; env settings win over the config's", async () => {
    mock = new MockCoordinator([]).install();
    const dir = tempDir("aq-fleet-mock-");
    const w = await fleetAq(
      dir,
      { AQ_FLEET: undefined, AQ_FACTORY_ID: "factory-from-env" },
      {
        plugins: [
          ["tracker-echo", false],
          [
            "fleet",
            {
              enabled: true,
              api: MOCK_API,
              factoryId: "factory-from-config",
              productId: "prod-from-config",
              caps: ["os:config"],
            },
          ],
        ],
      },
    );
    await w.drain();
    const first = mock.requests[0]!;
    expect(first.json).toEqual({ factoryId: "factory-from-env", capabilities: ["os:config"], health: "ok", load: 0 });
    expect(first.headers["x-product-id"]).toBe(PRODUCT);
    expect(first.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });
});

describe("2. claim", () => {
  it("materializes a claimed job as a local fleet job with its lease in meta and runs it to review/", async () => {
    const w = await world([job(`echo "fleet work" > "$AQ_QUEUE_DIR/../ran-$AQ_JOB_ID.txt"`)]);
    const summary = await w.drain();
    expect(summary.outcomes).toEqual({ [ID]: "review" });
    expect(stageOf(w.queue, ID)).toBe("review");
    const meta = metaOf(w.queue, ID);
    const claimAnswer = w.mock.of("claim")[0]!;
    expect(meta.origin).toEqual({ kind: "fleet", jobId: "J1" });
    expect(meta.fleet).toEqual({
      jobId: "J1",
      leaseEpoch: 7,
      leaseExpiresAt: expect.any(String),
      factoryId: "factory-a",
    });
    expect(Date.parse(fleetOf(meta).leaseExpiresAt!)).toBeGreaterThan(claimAnswer.at);
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "review"]);
    expect(outboxIn(meta)).toEqual([]);
    expect(existsSync(join(w.dir, `ran-${ID}.txt`))).toBe(true);
    expect(readFileSync(join(w.queue, "review", ID, "job.md"), "utf8")).toContain(
      `echo "fleet work" > "$AQ_QUEUE_DIR/../ran-$AQ_JOB_ID.txt"`,
    );
    expect(w.lines()).toContain(`fleet: ${ID}: claimed fleet job J1 under lease epoch 7`);
  });

  it("claims only once the local queue is empty: local jobs run first", async () => {
    const w = await world([job("true")]);
    await w.addLocal("local-1", "sleep 0.2");
    await w.addLocal("local-2", "true");
    await w.drain();
    const claims = w.mock.of("claim");
    const localDone = Math.max(
      ...["local-1", "local-2"].map((id) =>
        Date.parse(metaOf(w.queue, id).history.find((entry) => entry.to === "building")!.at),
      ),
    );
    expect(claims[0]!.at).toBeGreaterThanOrEqual(localDone);
    expect(stageOf(w.queue, "local-1")).toBe("review");
    expect(stageOf(w.queue, "local-2")).toBe("review");
    expect(stageOf(w.queue, ID)).toBe("review");
    // Local jobs are never reported to the coordinator.
    expect(w.mock.of("report").map((request) => request.path)).toEqual(["/api/fleet/jobs/J1", "/api/fleet/jobs/J1"]);
  });
});

describe("2. claim answers", () => {
  it.each([
    ["204", { statusCode: 204 }],
    ["{}", { statusCode: 200, data: {} }],
    ["{ job: null }", { statusCode: 200, data: { job: null } }],
  ])("a claim answered %s means nothing to do: no job, no complaint, drain ends", async (_what, reply) => {
    const w = await world([]);
    w.mock.answer = (request) => (kindOf(request) === "claim" ? reply : undefined);
    await w.addLocal("local-1", "true");
    const summary = await w.drain();
    expect(summary.outcomes).toEqual({ "local-1": "review" });
    expect(w.mock.of("claim")).toHaveLength(1);
    expect(w.loudLines()).toEqual([]);
  });

  it("a claim answer with a numeric job id and leaseExpiresAt in epoch milliseconds is taken as it means", async () => {
    const expires = Date.now() + 90_000;
    // No renewal in between (it would move leaseExpiresAt), however long a busy machine takes.
    const w = await world([], { AQ_FLEET_LEASE_RENEW_SEC: "60" });
    let claims = 0;
    w.mock.answer = (request) =>
      kindOf(request) === "claim" && claims++ === 0
        ? {
            statusCode: 200,
            data: {
              job: { id: 42, bodyMd: "true", options: { engine: "shell" } },
              leaseEpoch: 3,
              leaseExpiresAt: expires,
            },
          }
        : undefined;
    await w.drain();
    const id = localId("42", 3);
    expect(stageOf(w.queue, id)).toBe("review");
    expect(fleetOf(metaOf(w.queue, id))).toEqual({
      jobId: "42",
      leaseEpoch: 3,
      leaseExpiresAt: new Date(expires).toISOString(),
      factoryId: "factory-a",
    });
    expect(w.mock.of("report").map((request) => `${request.path} ${request.body}`)).toEqual([
      '/api/fleet/jobs/42 {"stage":"building","leaseEpoch":3}',
      '/api/fleet/jobs/42 {"stage":"review","leaseEpoch":3}',
    ]);
  });
});

describe("3. report + checkpoint", () => {
  it("reports building (with checkpoint {wipBranch, wipCommit} in a git cwd), review and, after aq promote, testing, each with the lease epoch", async () => {
    const dir = tempDir("aq-fleet-repo-");
    const repo = gitRepo(join(dir, "repo"));
    const base = git(repo, "rev-parse", "HEAD");
    const w = await world([job("echo work > work.txt", { cwd: repo })]);
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("review");
    const wip = metaOf(w.queue, ID).wip!;
    expect(wip.branch).toBe(`aq/${ID}`);
    expect(wip.commit).not.toBe(base);
    expect(bodies(w.mock.of("report"))).toEqual([
      { stage: "building", leaseEpoch: 7, checkpoint: { wipBranch: `aq/${ID}`, wipCommit: base } },
      { stage: "review", leaseEpoch: 7, checkpoint: { wipBranch: `aq/${ID}`, wipCommit: wip.commit } },
    ]);
    // The commit on the wip branch names the lease it was made under.
    const message = git(repo, "log", "-1", "--format=%B", wip.commit);
    expect(message).toMatch(/^Aq-Job: J1$/m);
    expect(message).toMatch(/^Aq-Factory: factory-a$/m);
    expect(message).toMatch(/^Aq-Lease-Epoch: 7$/m);

    const before = w.mock.requests.length;
    expect(await promote(w.aq, ID)).toEqual({ id: ID, stage: "testing" });
    expect(w.mock.requests.slice(before).map((request) => [`${request.method} ${request.path}`, request.json])).toEqual(
      [
        [
          "PATCH /api/fleet/jobs/J1",
          { stage: "testing", leaseEpoch: 7, checkpoint: { wipBranch: `aq/${ID}`, wipCommit: wip.commit } },
        ],
      ],
    );
    expect(stageOf(w.queue, ID)).toBe("testing");
  });

  it("reports without a checkpoint when the job's cwd is not a git repository", async () => {
    const w = await world([job("true")]);
    await w.drain();
    expect(w.mock.of("report").map((request) => request.body)).toEqual([
      '{"stage":"building","leaseEpoch":7}',
      '{"stage":"review","leaseEpoch":7}',
    ]);
  });
});

describe("4. fencing", () => {
  it("a PATCH answered 409 aborts the job before its engine runs: failed with reason fenced, fenced-abort logged and in meta.events, never shipped", async () => {
    const w = await world([job(`touch "${"$"}AQ_QUEUE_DIR/../engine-ran"`)]);
    w.mock.answer = (request) =>
      kindOf(request) === "report"
        ? { statusCode: 409, data: { error: "stale lease epoch", currentEpoch: 8 } }
        : undefined;
    const summary = await w.drain();
    expect(summary.outcomes).toEqual({ [ID]: "failed" });
    expect(stageOf(w.queue, ID)).toBe("failed");
    const meta = metaOf(w.queue, ID);
    expect(meta.reason).toBe("fenced");
    expect(meta.history.at(-1)).toMatchObject({ from: "building", to: "failed", reason: "fenced" });
    expect(fencedAborts(meta)).toEqual([
      { type: "fenced-abort", at: expect.any(String), detail: expect.stringMatching(/stale.*409/) },
    ]);
    expect(existsSync(join(w.dir, "engine-ran"))).toBe(false);
    expect(w.lines().filter((line) => line.includes("fenced-abort"))).toEqual([
      expect.stringMatching(new RegExp(`^${ID}: fenced-abort: `)),
    ]);
    // Only the refused building report went out: no review, no release of a lease that is not ours.
    expect(bodies(w.mock.of("report")).map((body) => body.stage)).not.toContain("review");
    expect(bodies(w.mock.of("report"))[0]).toEqual({ stage: "building", leaseEpoch: 7 });
    expect(w.mock.of("release")).toEqual([]);

    const before = w.mock.requests.length;
    await expect(ship(w.aq, ID, { force: true })).rejects.toThrow(/only a job in testing/);
    await expect(promote(w.aq, ID)).rejects.toThrow(/only a job in review/);
    expect(stageOf(w.queue, ID)).toBe("failed");
    expect(w.mock.requests.slice(before)).toEqual([]);
  });

  it("a review report answered 409 moves the finished job to failed/fenced instead of review", async () => {
    const w = await world([job("true")]);
    w.mock.answer = (request) =>
      kindOf(request) === "report" && request.json?.stage === "review"
        ? { statusCode: 409, data: { error: "stale" } }
        : undefined;
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("failed");
    const meta = metaOf(w.queue, ID);
    expect(meta.reason).toBe("fenced");
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "review", "failed"]);
    expect(fencedAborts(meta)).toHaveLength(1);
    expect(w.mock.of("release")).toEqual([]);
    await expect(ship(w.aq, ID, { force: true })).rejects.toThrow(/only a job in testing/);
  });

  it("aq ship checks the lease first: a job whose lease went stale is refused, quarantined and not merged", async () => {
    const dir = tempDir("aq-fleet-repo-");
    const repo = gitRepo(join(dir, "repo"));
    const base = git(repo, "rev-parse", "main");
    const w = await world([job("echo work > work.txt", { cwd: repo })]);
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("review");
    // Another factory holds the job now: every call under epoch 7 is stale.
    w.mock.answer = (request) =>
      ["report", "renew", "release"].includes(kindOf(request))
        ? { statusCode: 409, data: { error: "stale" } }
        : undefined;
    const before = w.mock.requests.length;
    await expect(ship(w.aq, ID, { force: true })).rejects.toThrow(/refused: lease epoch 7 is stale \(409\)/);
    expect(w.mock.requests.slice(before).map((request) => `${request.method} ${request.path} ${request.body}`)[0]).toBe(
      'POST /api/fleet/jobs/J1/lease/renew {"leaseEpoch":7}',
    );
    expect(w.mock.requests.slice(before).filter((request) => request.json?.stage === "shipped")).toEqual([]);
    expect(stageOf(w.queue, ID)).toBe("quarantine");
    expect(metaOf(w.queue, ID).reason).toMatch(/stale/);
    expect(git(repo, "rev-parse", "main")).toBe(base);
  });

  it("aq ship refuses a fleet job while the coordinator cannot confirm the lease (unreachable); the job stays in review", async () => {
    const w = await world([job("true")]);
    await w.drain();
    w.mock.answer = () => NETWORK_ERROR;
    await expect(ship(w.aq, ID, { force: true })).rejects.toThrow(
      /ship of fleet-J1-e7 refused: .*(cannot be reached|not confirmed)/,
    );
    expect(stageOf(w.queue, ID)).toBe("review");
    expect(w.mock.requests.filter((request) => request.json?.stage === "shipped")).toEqual([]);
  });

  it("aq promote answered 409 fails the job as fenced and says so", async () => {
    const w = await world([job("true")]);
    await w.drain();
    w.mock.answer = (request) =>
      kindOf(request) === "report" ? { statusCode: 409, data: { error: "stale" } } : undefined;
    await expect(promote(w.aq, ID)).rejects.toThrow(/fenced/);
    expect(stageOf(w.queue, ID)).toBe("failed");
    const meta = metaOf(w.queue, ID);
    expect(meta.reason).toBe("fenced");
    expect(fencedAborts(meta)).toHaveLength(1);
    expect(pathOf(meta).slice(-2)).toEqual(["testing", "failed"]);
  });

  // Regression (fixed; plugins/fleet/outbox.ts): a report answered 409 stays in the job's fleetOutbox after
  // the job was fenced, so every later heartbeat re-sends it (flushAll) and the factory reports
  // health "degraded" for ever.
  it("after a fence the refused report is not sent again and the factory's health returns to ok", async () => {
    const w = await world([job("true")]);
    w.mock.answer = (request) =>
      kindOf(request) === "report" ? { statusCode: 409, data: { error: "stale" } } : undefined;
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("failed");
    const before = w.mock.requests.length;
    await w.addLocal("local-1", "sleep 0.5");
    await w.drain();
    const later = w.mock.requests.slice(before);
    expect(
      later
        .filter((request) => kindOf(request) === "report")
        .map((request) => `${request.method} ${request.path} ${request.body}`),
    ).toEqual([]);
    expect(
      later.filter((request) => kindOf(request) === "heartbeat").map((request) => request.json.health),
    ).not.toContain("degraded");
  });
});

describe("5. lease renew", () => {
  it("renews the lease on a timer while building, with the current epoch, and keeps the new expiry in meta", async () => {
    const w = await world([job("sleep 1")]);
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("review");
    const [building, review] = w.mock.of("report");
    expect(building!.json.stage).toBe("building");
    expect(review!.json.stage).toBe("review");
    const renews = w.mock.of("renew");
    for (const renew of renews) {
      expect(renew.path).toBe("/api/fleet/jobs/J1/lease/renew");
      expect(renew.body).toBe('{"leaseEpoch":7}');
    }
    const whileBuilding = renews.filter((renew) => renew.at > building!.at && renew.at < review!.at);
    expect(whileBuilding.length).toBeGreaterThanOrEqual(3);
    const gaps = whileBuilding.slice(1).map((renew, i) => renew.at - whileBuilding[i]!.at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(120);
    const expiry = fleetOf(metaOf(w.queue, ID)).leaseExpiresAt;
    expect(w.mock.renewedUntil).toContain(expiry);
  });

  it("a renew answered 409 while building kills the engine before it finishes; the job fails as fenced", async () => {
    const w = await world([job(`sleep 4\ntouch "${"$"}AQ_QUEUE_DIR/../finished"`)]);
    // Refused once the job is building (reported so): on a busy machine the heartbeat's renewal of
    // held leases can otherwise come first, while the job is still assigned.
    w.mock.answer = (request) =>
      kindOf(request) === "renew" && w.mock.of("report").length > 0
        ? { statusCode: 409, data: { error: "stale" } }
        : undefined;
    const started = Date.now();
    const summary = await w.drain();
    // The drain waits for the engine: had it run to its end, the marker would be there now.
    expect(existsSync(join(w.dir, "finished"))).toBe(false);
    expect(summary.outcomes).toEqual({ [ID]: "failed" });
    const meta = metaOf(w.queue, ID);
    expect(meta.reason).toBe("fenced");
    expect(meta).not.toHaveProperty("engine");
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "failed"]);
    // Whichever renewal was refused first: the building job's own, or the heartbeat's of held leases.
    expect(fencedAborts(meta)).toEqual([
      expect.objectContaining({
        detail: expect.stringMatching(
          /renew of J1 \(epoch 7\) answered 409|lease epoch 7 of J1 is stale \(the coordinator answered 409/,
        ),
      }),
    ]);
    const renews = w.mock.of("renew");
    expect(renews.length).toBeGreaterThanOrEqual(1);
    for (const renew of renews) expect(renew.json).toEqual({ leaseEpoch: 7 });
    // Killed at the first refused renew (plus the kill's grace), not at the end of the script.
    const reportedAt = w.mock.of("report")[0]!.at;
    const refused = renews.find((renew) => renew.at >= reportedAt) ?? renews[0]!;
    expect(Date.parse(meta.history.at(-1)!.at) - refused.at).toBeLessThan(2_500);
    expect(bodies(w.mock.of("report"))).toEqual([{ stage: "building", leaseEpoch: 7 }]);
    expect(w.mock.of("release")).toEqual([]);
    await sleep(Math.max(0, started + 4_400 - Date.now()));
    expect(existsSync(join(w.dir, "finished"))).toBe(false);
  });
});

describe("6. offline-degrade", () => {
  it("a connection lost mid-job: the job completes to review with its reports in meta.fleetState.outbox; a later 409 for that epoch quarantines it, and aq status shows it", async () => {
    requireBuild();
    const w = await world([job("sleep 0.3")]);
    let down = false;
    let stale = false;
    w.mock.answer = (request) => {
      if (down) return NETWORK_ERROR;
      if (kindOf(request) === "claim" && !stale) {
        down = true;
        return undefined;
      }
      if (stale && ["report", "renew", "release"].includes(kindOf(request)))
        return { statusCode: 409, data: { error: "stale", currentEpoch: 8 } };
      return undefined;
    };
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("review");
    expect(outboxIn(metaOf(w.queue, ID))).toEqual([
      { stage: "building", leaseEpoch: 7, at: expect.any(String) },
      { stage: "review", leaseEpoch: 7, at: expect.any(String) },
    ]);
    // One line says the coordinator is gone, however many calls failed.
    expect(w.loudLines().filter((line) => /unreachable|offline/.test(line))).toEqual([
      expect.stringMatching(/^fleet: coordinator unreachable for .*: ECONNREFUSED; working offline/),
    ]);
    const status = await collectStatus(w.aq.store, w.aq.hooks);
    expect(status.notes).toContain("fleet: 1 job(s) have reports waiting for the coordinator (degraded)");

    // Reachable again, and the lease is someone else's now.
    down = false;
    stale = true;
    const before = w.mock.requests.length;
    await w.drain();
    const after = w.mock.requests.slice(before);
    expect(after[0]!.json).toMatchObject({ health: "degraded" });
    expect(after.find((request) => kindOf(request) === "report")!.json).toEqual({ stage: "building", leaseEpoch: 7 });
    expect(stageOf(w.queue, ID)).toBe("quarantine");
    const meta = metaOf(w.queue, ID);
    expect(meta.reason).toMatch(/^fenced while offline: lease epoch 7 of J1 is stale/);
    expect(meta.history.at(-1)).toMatchObject({ from: "review", to: "quarantine" });
    expect(w.mock.requests.filter((request) => request.json?.stage === "shipped")).toEqual([]);

    // The lease is the fleet plugin's to show: aq status with the fleet switch on (it calls no coordinator).
    const fleetOn = { AQ_FLEET: "1", AQ_FACTORY_ID: "factory-a" };
    const human = await cli(["status"], { cwd: w.dir, env: fleetOn });
    expect(human.code, human.stderr).toBe(0);
    const lines = human.stdout.split("\n");
    const alarm = lines.findIndex((line) => line.startsWith("!! 1 quarantined job(s) need a person"));
    expect(alarm).toBeGreaterThan(-1);
    expect(lines[alarm + 1]).toMatch(new RegExp(`^\\s+${ID} \\(fleet J1, epoch 7\\)\\s+fenced while offline`));
    const table = lines.findIndex((line) => /^ID\s+STAGE/.test(line));
    expect(alarm).toBeLessThan(table);
    const json = JSON.parse((await cli(["status", "--json"], { cwd: w.dir, env: fleetOn })).stdout);
    expect(json.counts.quarantine).toBe(1);
    expect(json.jobs.find((entry: any) => entry.id === ID)).toMatchObject({
      stage: "quarantine",
      fleet: { jobId: "J1", leaseEpoch: 7 },
      reason: expect.stringMatching(/^fenced while offline/),
    });
    const shipped = await cli(["ship", ID, "--force"], { cwd: w.dir });
    expect(shipped.code).toBe(1);
    expect(stageOf(w.queue, ID)).toBe("quarantine");
  });

  it("a coordinator answering 503 mid-job: the reports wait, then are delivered in order with the epoch when it answers again", async () => {
    const w = await world([job("sleep 0.3")]);
    let failing = false;
    w.mock.answer = (request) => {
      if (failing)
        return { statusCode: 503, data: "<html>unavailable</html>", headers: { "content-type": "text/html" } };
      if (kindOf(request) === "claim") failing = true;
      return undefined;
    };
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("review");
    expect(outboxIn(metaOf(w.queue, ID))).toHaveLength(2);
    failing = false;
    const before = w.mock.requests.length;
    await w.drain();
    const delivered = w.mock.requests.slice(before).filter((request) => kindOf(request) === "report");
    expect(delivered.map((request) => [request.path, request.json])).toEqual([
      ["/api/fleet/jobs/J1", { stage: "building", leaseEpoch: 7 }],
      ["/api/fleet/jobs/J1", { stage: "review", leaseEpoch: 7 }],
    ]);
    expect(stageOf(w.queue, ID)).toBe("review");
    expect(outboxIn(metaOf(w.queue, ID))).toEqual([]);
    expect((await collectStatus(w.aq.store, w.aq.hooks)).notes).toEqual([]);
    expect(w.lines()).toContain("fleet: coordinator http://coord.test/api answers again");
  });

  it("the outbox lives in meta.json: a new process (restart) delivers the waiting reports in order", async () => {
    const w = await world([job("sleep 0.2")]);
    let failing = false;
    w.mock.answer = (request) => {
      if (failing) return NETWORK_ERROR;
      if (kindOf(request) === "claim") failing = true;
      return undefined;
    };
    await w.drain();
    expect(outboxIn(metaOf(w.queue, ID))).toHaveLength(2);
    failing = false;
    // Another process on the same queue: a fresh aq with a fresh plugin instance.
    const restarted = await fleetAq(w.dir, { AQ_FLEET_API: MOCK_API });
    const before = w.mock.requests.length;
    await restarted.drain();
    const delivered = w.mock.requests.slice(before).filter((request) => kindOf(request) === "report");
    expect(delivered.map((request) => request.body)).toEqual([
      '{"stage":"building","leaseEpoch":7}',
      '{"stage":"review","leaseEpoch":7}',
    ]);
    expect(outboxIn(metaOf(w.queue, ID))).toEqual([]);
    expect(stageOf(w.queue, ID)).toBe("review");
  });

  it("a queue written before fleetState (fleetOutbox, fleetRelease keys) is still read: its waiting reports are delivered", async () => {
    const w = await world([job("sleep 0.2")]);
    let failing = false;
    w.mock.answer = (request) => {
      if (failing) return NETWORK_ERROR;
      if (kindOf(request) === "claim") failing = true;
      return undefined;
    };
    await w.drain();
    // The same job as an older aq left it: the outbox and the release state in keys of their own.
    const path = join(w.queue, "review", ID, "meta.json");
    const { fleetState, ...meta } = JSON.parse(readFileSync(path, "utf8"));
    expect(fleetState.outbox).toHaveLength(2);
    writeFileSync(path, JSON.stringify({ ...meta, fleetOutbox: fleetState.outbox, fleetRelease: "pending" }));
    failing = false;
    const before = w.mock.requests.length;
    await (await fleetAq(w.dir, { AQ_FLEET_API: MOCK_API })).drain();
    const later = w.mock.requests.slice(before);
    expect(later.filter((request) => kindOf(request) === "report").map((request) => request.body)).toEqual([
      '{"stage":"building","leaseEpoch":7}',
      '{"stage":"review","leaseEpoch":7}',
    ]);
    expect(later.filter((request) => kindOf(request) === "release").map((request) => request.json)).toEqual([
      { leaseEpoch: 7 },
    ]);
    const after = metaOf(w.queue, ID);
    expect(after).toMatchObject({ fleetState: { outbox: [], release: "done" } });
    expect(after).not.toHaveProperty("fleetOutbox");
    expect(after).not.toHaveProperty("fleetRelease");
  });

  // Regression (fixed; plugins/fleet/outbox.ts fenced/quarantine): the quarantined job keeps its outbox and
  // fleetRelease "pending", so every later heartbeat re-sends its stale reports and logs
  // "quarantined" again, and the factory's health stays "degraded".
  it("a quarantined job is not reported again: later heartbeats send nothing for its stale epoch and log no more", async () => {
    const w = await world([job("true")]);
    let down = false;
    let stale = false;
    w.mock.answer = (request) => {
      if (down) return { statusCode: 503 };
      if (kindOf(request) === "claim" && !stale) down = true;
      else if (stale && ["report", "renew", "release"].includes(kindOf(request)))
        return { statusCode: 409, data: { error: "stale" } };
      return undefined;
    };
    await w.drain();
    down = false;
    stale = true;
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("quarantine");
    const before = w.mock.requests.length;
    await w.addLocal("local-1", "sleep 0.5");
    await w.drain();
    const later = w.mock.requests.slice(before);
    expect(
      later
        .filter((request) => request.path.startsWith("/api/fleet/jobs/J1"))
        .map((request) => `${request.method} ${request.path} ${request.body}`),
    ).toEqual([]);
    expect(
      later.filter((request) => kindOf(request) === "heartbeat").map((request) => request.json.health),
    ).not.toContain("degraded");
    expect(w.loudLines().filter((line) => line.includes("quarantined"))).toHaveLength(1);
  });
});

describe("stage echo with fleet on", () => {
  it("a fleet job's stage echo goes to the coordinator (fleet_events), a local job's still goes to the tracker", async () => {
    mock = new MockCoordinator([job("true", { tracker: "ISSUE-7" })]).alsoServe("http://tracker.test").install();
    const dir = tempDir("aq-fleet-mock-");
    const w = await fleetAq(
      dir,
      { AQ_FLEET_API: MOCK_API, AQ_TRACKER_API: "http://tracker.test/api", AQ_TRACKER_TOKEN: "tracker-token" },
      { plugins: [] },
    );
    await w.addLocal("local-1", "true", { tracker: "ISSUE-8" });
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("review");
    expect(mock.elsewhere.map((request) => request.path)).toEqual(Array(4).fill("/api/tracker/items/ISSUE-8/comments"));
    expect(mock.elsewhere.map((request) => request.json.body)).toEqual([
      "aq: job local-1 new → queued",
      "aq: job local-1 queued → assigned",
      "aq: job local-1 assigned → building",
      "aq: job local-1 building → review",
    ]);
    expect(mock.of("report").map((request) => request.json.stage)).toEqual(["building", "review"]);
  });
});

describe("7. no-leak", () => {
  it("no request body carries the prompt or the token, and no log line carries either", async () => {
    const dir = tempDir("aq-fleet-repo-");
    const repo = gitRepo(join(dir, "repo"));
    const w = await world([
      {
        id: "J1",
        title: "leak check",
        bodyMd: `sleep 0.5\necho "${PROMPT}" > prompt-copy.txt`,
        options: { engine: "shell", cwd: repo },
        leaseEpoch: 7,
      },
    ]);
    let renews = 0;
    // One failing renew, so that a coordinator problem is logged too.
    w.mock.answer = (request) =>
      kindOf(request) === "renew" && renews++ === 0 ? { statusCode: 500, data: `error near ${PROMPT}` } : undefined;
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("review");
    await promote(w.aq, ID);
    await ship(w.aq, ID);
    expect(stageOf(w.queue, ID)).toBe("shipped");
    const kinds = new Set(w.mock.requests.map(kindOf));
    for (const kind of ["heartbeat", "claim", "report", "renew", "release"] as const)
      expect(kinds.has(kind), kind).toBe(true);
    for (const request of w.mock.requests) {
      expect(request.body).not.toContain(PROMPT);
      expect(request.body).not.toContain(TOKEN);
      expect(request.path).not.toContain(TOKEN);
      for (const [name, value] of Object.entries(request.headers))
        if (name !== "authorization") expect(value, name).not.toContain(TOKEN);
    }
    const everything = JSON.stringify(w.log.records);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(PROMPT);
    expect(w.lines().some((line) => /renew.*500/.test(line))).toBe(true);
  });
});

describe("8. release on terminal", () => {
  it("promote + ship sends PATCH testing, confirms the lease, PATCH shipped, then releases the lease with the epoch", async () => {
    const dir = tempDir("aq-fleet-repo-");
    const repo = gitRepo(join(dir, "repo"));
    const w = await world([job("echo shipped-work > work.txt", { cwd: repo })]);
    await w.drain();
    const wip = metaOf(w.queue, ID).wip!;
    const checkpoint = { wipBranch: `aq/${ID}`, wipCommit: wip.commit };
    const before = w.mock.requests.length;
    await promote(w.aq, ID);
    const result = await ship(w.aq, ID);
    expect(result.merged).toMatchObject({ into: "main", branch: `aq/${ID}` });
    expect(w.mock.requests.slice(before).map((request) => [`${request.method} ${request.path}`, request.json])).toEqual(
      [
        ["PATCH /api/fleet/jobs/J1", { stage: "testing", leaseEpoch: 7, checkpoint }],
        ["POST /api/fleet/jobs/J1/lease/renew", { leaseEpoch: 7 }],
        ["PATCH /api/fleet/jobs/J1", { stage: "shipped", leaseEpoch: 7, checkpoint }],
        ["POST /api/fleet/jobs/J1/lease/release", { leaseEpoch: 7 }],
      ],
    );
    expect(stageOf(w.queue, ID)).toBe("shipped");
    expect(metaOf(w.queue, ID)).toMatchObject({
      fleetState: { outbox: [], release: "done" },
      shipped: { into: "main" },
    });
    expect(git(repo, "show", "main:work.txt")).toBe("shipped-work");
  });

  it("ship --force from review sends PATCH shipped then the release", async () => {
    const w = await world([job("true")]);
    await w.drain();
    const before = w.mock.requests.length;
    await ship(w.aq, ID, { force: true });
    expect(w.mock.requests.slice(before).map((request) => `${request.method} ${request.path} ${request.body}`)).toEqual(
      [
        'POST /api/fleet/jobs/J1/lease/renew {"leaseEpoch":7}',
        'PATCH /api/fleet/jobs/J1 {"stage":"shipped","leaseEpoch":7}',
        'POST /api/fleet/jobs/J1/lease/release {"leaseEpoch":7}',
      ],
    );
    expect(stageOf(w.queue, ID)).toBe("shipped");
  });

  it("a fleet job that blocks reports blocked and releases its lease", async () => {
    // The calls of a job too short to need a renewal, however long a busy machine takes.
    const w = await world([job("echo 'AQ_BLOCKED: needs a person'")], { AQ_FLEET_LEASE_RENEW_SEC: "60" });
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("blocked");
    expect(w.mock.calls().filter((call) => !call.endsWith("/claim"))).toEqual([
      "PATCH /api/fleet/jobs/J1",
      "PATCH /api/fleet/jobs/J1",
      "POST /api/fleet/jobs/J1/lease/release",
    ]);
    expect(bodies(w.mock.of("report"))).toEqual([
      { stage: "building", leaseEpoch: 7 },
      { stage: "blocked", leaseEpoch: 7 },
    ]);
    expect(w.mock.of("release")[0]!.json).toEqual({ leaseEpoch: 7 });
  });

  it("a fleet job that fails for good reports failed and releases its lease", async () => {
    const w = await world([job("exit 1", { maxAttempts: 1 })], { AQ_FLEET_LEASE_RENEW_SEC: "60" });
    await w.drain();
    expect(stageOf(w.queue, ID)).toBe("dead_letter");
    expect(w.mock.calls().filter((call) => !call.endsWith("/claim"))).toEqual([
      "PATCH /api/fleet/jobs/J1",
      "PATCH /api/fleet/jobs/J1",
      "POST /api/fleet/jobs/J1/lease/release",
    ]);
    expect(bodies(w.mock.of("report"))).toEqual([
      { stage: "building", leaseEpoch: 7 },
      { stage: "failed", leaseEpoch: 7 },
    ]);
    expect(w.mock.of("release")[0]!.json).toEqual({ leaseEpoch: 7 });
  });
});
