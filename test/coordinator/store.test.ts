import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CoordinatorStore } from "../../src/coordinator/store.ts";
import { tempDir } from "../helpers/temp.ts";

/** docs/design.md ("The coordinator"): the development coordinator's state, in process, on a controllable clock. */

const CAPS = ["os:linux", "engine:shell"];

function clockedStore(file = ":memory:", leaseMs = 1_000) {
  let now = 1_700_000_000_000;
  const store = new CoordinatorStore(file, { leaseMs, now: () => now });
  return {
    store,
    advance(ms: number) {
      now += ms;
    },
    get now() {
      return now;
    },
  };
}

describe("coordinator store", () => {
  it("grows the lease epoch on every claim and reclaim: claim, release, claim again, expire, reclaim", () => {
    const world = clockedStore();
    const { store } = world;
    store.enqueue({ id: "J1", bodyMd: "echo hi" });
    expect(store.job("J1")).toMatchObject({ stage: "queued", leaseEpoch: 0, factoryId: null, leaseExpiresAt: null });

    const first = store.claim("factory-a", CAPS);
    expect(first).toMatchObject({
      reclaimed: false,
      job: { id: "J1", stage: "assigned", leaseEpoch: 1, factoryId: "factory-a", leaseExpiresAt: world.now + 1_000 },
    });
    expect(store.claim("factory-b", CAPS)).toBeUndefined();

    expect(store.release("J1", 1)).toMatchObject({
      ok: true,
      value: { stage: "queued", factoryId: null, leaseExpiresAt: null, leaseEpoch: 1 },
    });
    expect(store.claim("factory-b", CAPS)).toMatchObject({
      reclaimed: false,
      job: { leaseEpoch: 2, factoryId: "factory-b" },
    });

    world.advance(1_001);
    expect(store.claim("factory-a", CAPS)).toMatchObject({
      reclaimed: true,
      job: { leaseEpoch: 3, factoryId: "factory-a", stage: "assigned" },
    });
  });

  it("answers a report, renew or release with a stale epoch as stale and changes nothing in the job", () => {
    const world = clockedStore();
    const { store } = world;
    store.enqueue({ id: "J1", bodyMd: "echo hi" });
    store.claim("factory-a", CAPS);
    store.release("J1", 1);
    store.claim("factory-b", CAPS);
    expect(
      store.report("J1", { stage: "building", leaseEpoch: 2, checkpoint: { wipBranch: "aq/x", wipCommit: "abc" } }).ok,
    ).toBe(true);
    const before = store.job("J1");
    world.advance(10);

    expect(
      store.report("J1", { stage: "review", leaseEpoch: 1, checkpoint: { wipBranch: "aq/old", wipCommit: "def" } }),
    ).toEqual({ ok: false, reason: "stale", currentEpoch: 2 });
    expect(store.renew("J1", 1)).toEqual({ ok: false, reason: "stale", currentEpoch: 2 });
    expect(store.release("J1", 1)).toEqual({ ok: false, reason: "stale", currentEpoch: 2 });
    expect(store.report("J1", { stage: "review", leaseEpoch: 3 })).toEqual({
      ok: false,
      reason: "stale",
      currentEpoch: 2,
    });
    expect(store.job("J1")).toEqual(before);
    // Unknown jobs are "missing", not stale.
    expect(store.report("nope", { stage: "review", leaseEpoch: 1 })).toEqual({ ok: false, reason: "missing" });
    // Each refusal is recorded as a fenced event.
    expect(
      store
        .events("J1")
        .filter((event) => event.type === "fenced")
        .map((event) => event.leaseEpoch),
    ).toEqual([1, 1, 1, 3]);
  });

  it("makes a job whose lease expired claimable again, with epoch + 1, ending the old run as lease-expired", () => {
    const world = clockedStore(":memory:", 300);
    const { store } = world;
    store.enqueue({ id: "J1", bodyMd: "echo hi" });
    store.claim("factory-a", CAPS);
    store.report("J1", { stage: "building", leaseEpoch: 1 });
    world.advance(299);
    expect(store.claim("factory-b", CAPS)).toBeUndefined();
    world.advance(2);
    expect(store.claim("factory-b", CAPS)).toMatchObject({
      reclaimed: true,
      job: { leaseEpoch: 2, factoryId: "factory-b", stage: "assigned" },
    });
    expect(store.runs("J1")).toEqual([
      expect.objectContaining({
        factoryId: "factory-a",
        leaseEpoch: 1,
        outcome: "lease-expired",
        endedAt: expect.any(String),
      }),
      expect.objectContaining({ factoryId: "factory-b", leaseEpoch: 2, outcome: null, endedAt: null }),
    ]);
    expect(store.report("J1", { stage: "review", leaseEpoch: 1 })).toMatchObject({ ok: false, reason: "stale" });
    expect(store.events("J1").map((event) => [event.type, event.factoryId, event.leaseEpoch, event.stage])).toEqual([
      ["enqueued", null, null, "queued"],
      ["claimed", "factory-a", 1, "assigned"],
      ["stage", "factory-a", 1, "building"],
      ["lease-expired", "factory-a", 1, "building"],
      ["reclaimed", "factory-b", 2, "assigned"],
      ["fenced", null, 1, "review"],
    ]);
  });

  it("renew pushes the expiry out under the current epoch only, and a renewed lease is not claimable", () => {
    const world = clockedStore(":memory:", 300);
    const { store } = world;
    store.enqueue({ id: "J1", bodyMd: "echo hi" });
    store.claim("factory-a", CAPS);
    world.advance(200);
    expect(store.renew("J1", 1)).toMatchObject({ ok: true, value: { leaseExpiresAt: world.now + 300 } });
    world.advance(200);
    expect(store.claim("factory-b", CAPS)).toBeUndefined();
    world.advance(101);
    expect(store.claim("factory-b", CAPS)).toMatchObject({ job: { leaseEpoch: 2 } });
  });

  it("a run of renewals under one epoch is one 'renewed' event; a stage or a new epoch between them starts another", () => {
    const world = clockedStore(":memory:", 300);
    const { store } = world;
    store.enqueue({ id: "J1", bodyMd: "echo hi" });
    store.claim("factory-a", CAPS);
    for (let i = 0; i < 50; i++) {
      world.advance(100);
      expect(store.renew("J1", 1)).toMatchObject({ ok: true, value: { leaseExpiresAt: world.now + 300 } });
    }
    store.report("J1", { stage: "building", leaseEpoch: 1 });
    store.renew("J1", 1);
    store.renew("J1", 1);
    world.advance(301);
    store.claim("factory-b", CAPS);
    store.renew("J1", 2);
    expect(
      store.events("J1").map((event) => `${event.type}:${event.factoryId ?? "-"}:${event.leaseEpoch ?? "-"}`),
    ).toEqual([
      "enqueued:-:-",
      "claimed:factory-a:1",
      "renewed:factory-a:1",
      "stage:factory-a:1",
      "renewed:factory-a:1",
      "lease-expired:factory-a:1",
      "reclaimed:factory-b:2",
      "renewed:factory-b:2",
    ]);
  });

  it("records events and runs for a whole life: enqueue, claim, stages with checkpoint, renew, shipped, release", () => {
    const { store } = clockedStore();
    store.enqueue({ id: "J1", bodyMd: "echo hi", title: "t" });
    store.claim("factory-a", CAPS);
    store.report("J1", {
      stage: "building",
      leaseEpoch: 1,
      checkpoint: { wipBranch: "aq/fleet-J1-e1", wipCommit: "c0" },
    });
    store.renew("J1", 1);
    store.report("J1", {
      stage: "review",
      leaseEpoch: 1,
      checkpoint: { wipBranch: "aq/fleet-J1-e1", wipCommit: "c1" },
    });
    store.report("J1", { stage: "testing", leaseEpoch: 1 });
    store.report("J1", { stage: "shipped", leaseEpoch: 1 });
    store.release("J1", 1);
    expect(store.job("J1")).toMatchObject({
      stage: "shipped",
      leaseEpoch: 1,
      factoryId: null,
      checkpoint: { wipBranch: "aq/fleet-J1-e1", wipCommit: "c1" },
    });
    expect(store.events("J1").map((event) => `${event.type}:${event.stage ?? "-"}:${event.leaseEpoch ?? "-"}`)).toEqual(
      [
        "enqueued:queued:-",
        "claimed:assigned:1",
        "stage:building:1",
        "renewed:-:1",
        "stage:review:1",
        "stage:testing:1",
        "stage:shipped:1",
        "released:shipped:1",
      ],
    );
    expect(JSON.parse(store.events("J1")[2]!.detail!)).toEqual({ wipBranch: "aq/fleet-J1-e1", wipCommit: "c0" });
    expect(store.runs("J1")).toEqual([
      expect.objectContaining({
        factoryId: "factory-a",
        leaseEpoch: 1,
        outcome: "shipped",
        endedAt: expect.any(String),
      }),
    ]);
    // A shipped job is never claimable again, and its lease cannot be renewed.
    expect(store.claim("factory-b", CAPS)).toBeUndefined();
    expect(store.renew("J1", 1)).toMatchObject({ ok: false, reason: "stale" });
  });

  it("hands a job only to a factory that has every capability it requires, highest priority first", () => {
    const { store } = clockedStore();
    store.enqueue({ id: "low", bodyMd: "x", priority: 0 });
    store.enqueue({ id: "gpu", bodyMd: "x", priority: 9, requires: ["tool:gpu"] });
    store.enqueue({ id: "high", bodyMd: "x", priority: 5 });
    expect(store.heartbeat({ factoryId: "factory-a", capabilities: CAPS, health: "ok", load: 0 })).toEqual({
      claimable: 2,
    });
    expect(store.claim("factory-a", CAPS)?.job.id).toBe("high");
    expect(store.claim("factory-a", CAPS)?.job.id).toBe("low");
    expect(store.claim("factory-a", CAPS)).toBeUndefined();
    expect(store.claim("factory-g", [...CAPS, "tool:gpu"])?.job.id).toBe("gpu");
  });

  it("keeps jobs, leases, epochs, events, runs and factories across a restart on the same SQLite file", () => {
    const file = join(tempDir("aq-coord-db-"), "coordinator.sqlite");
    const first = clockedStore(file, 60_000);
    first.store.enqueue({ id: "J1", bodyMd: "echo hi" });
    first.store.enqueue({ id: "J2", bodyMd: "echo two" });
    first.store.heartbeat({ factoryId: "factory-a", capabilities: CAPS, health: "ok", load: 0 });
    first.store.claim("factory-a", CAPS);
    first.store.release("J1", 1);
    first.store.claim("factory-a", CAPS);
    first.store.report("J1", { stage: "building", leaseEpoch: 2, checkpoint: { wipBranch: "aq/b", wipCommit: "c" } });
    const jobs = first.store.jobs();
    const events = first.store.events();
    const runs = first.store.runs("J1");
    first.store.close();

    const again = new CoordinatorStore(file, { leaseMs: 60_000, now: () => first.now + 5 });
    expect(again.jobs()).toEqual(jobs);
    expect(again.events()).toEqual(events);
    expect(again.runs("J1")).toEqual(runs);
    expect(again.factories().map((factory) => factory.id)).toEqual(["factory-a"]);
    expect(again.job("J1")).toMatchObject({
      leaseEpoch: 2,
      factoryId: "factory-a",
      stage: "building",
      leaseExpiresAt: first.now + 60_000,
    });
    // The lease still holds: the holder's report is accepted, a stale one is not, nobody can claim it.
    expect(again.report("J1", { stage: "review", leaseEpoch: 2 }).ok).toBe(true);
    expect(again.report("J1", { stage: "review", leaseEpoch: 1 })).toMatchObject({ ok: false, reason: "stale" });
    expect(again.claim("factory-b", CAPS)?.job.id).toBe("J2");
    expect(again.claim("factory-b", CAPS)).toBeUndefined();
    again.close();
  });
});

describe("coordinator store migrations (SQLite)", () => {
  it("a file written before migrations were versioned adopts version 1 as is and gets the later steps", async () => {
    const { DatabaseSync } = await import("node:sqlite");
    const { SQLITE_MIGRATIONS } = await import("../../src/coordinator/migrations/sqlite.ts");
    const file = join(tempDir("aq-coord-old-"), "coordinator.sqlite");
    const old = new DatabaseSync(file);
    old.exec(SQLITE_MIGRATIONS[0]!.sql);
    old.prepare("INSERT INTO jobs (id, body_md, created_at, updated_at) VALUES ('J1', 'x', 1, 1)").run();
    old.close();
    const store = new CoordinatorStore(file, { leaseMs: 1_000 });
    expect(store.job("J1")).toMatchObject({ stage: "queued", leaseEpoch: 0 });
    store.close();
    const check = new DatabaseSync(file, { readOnly: true });
    expect(
      check
        .prepare("SELECT version FROM aq_migrations ORDER BY version")
        .all()
        .map((row) => Number(row.version)),
    ).toEqual(SQLITE_MIGRATIONS.map((step) => step.version));
    check.close();
  });
});
