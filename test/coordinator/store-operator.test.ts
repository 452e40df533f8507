import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type FleetStore, uncovered } from "../../src/coordinator/fleet-store.ts";
import { openStore } from "../../src/coordinator/stores.ts";
import { usePostgres } from "../helpers/postgres.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * The store methods behind the operator's routes and shadow mode, against both engines: cancel
 * (fences the holder), the demand no live factory covers, and observed stages.
 */

const CAPS = ["os:linux", "engine:shell"];
const pg = usePostgres({ beforeAll, afterAll });

const engines = [
  { name: "sqlite", skip: false, db: async () => join(tempDir("aq-operator-"), "coordinator.sqlite") },
  { name: "postgres", skip: pg.skip, db: () => pg.database() },
];

async function open(db: string, leaseMs = 60_000): Promise<FleetStore> {
  const store = await openStore(db, { leaseMs, pool: 2 });
  onTestFinished(() => store.close());
  return store;
}

for (const engine of engines) {
  describe.skipIf(engine.skip)(`coordinator store, operator side (${engine.name})`, () => {
    it("cancel: a held job rests cancelled under a raised epoch; the holder's report, renew and release are stale; nobody can claim it; finished jobs stay", async () => {
      const store = await open(await engine.db());
      await store.enqueue({ id: "J1", bodyMd: "x" });
      await store.enqueue({ id: "J2", bodyMd: "y" });
      expect((await store.claim("factory-a", CAPS))?.job.id).toBe("J1");
      expect((await store.report("J1", { stage: "building", leaseEpoch: 1 })).ok).toBe(true);

      const cancelled = await store.cancel("J1");
      expect(cancelled).toMatchObject({
        ok: true,
        holder: "factory-a",
        job: { id: "J1", stage: "cancelled", leaseEpoch: 2, factoryId: null, leaseExpiresAt: null },
      });
      expect(await store.renew("J1", 1)).toEqual({ ok: false, reason: "stale", currentEpoch: 2 });
      expect(await store.report("J1", { stage: "review", leaseEpoch: 1 })).toEqual({
        ok: false,
        reason: "stale",
        currentEpoch: 2,
      });
      expect(await store.release("J1", 1)).toEqual({ ok: false, reason: "stale", currentEpoch: 2 });
      expect((await store.job("J1"))?.stage).toBe("cancelled");
      expect((await store.claim("factory-b", CAPS))?.job.id).toBe("J2");
      expect(await store.claim("factory-c", CAPS)).toBeUndefined();
      expect((await store.runs("J1")).map((run) => [run.factoryId, run.leaseEpoch, run.outcome])).toEqual([
        ["factory-a", 1, "cancelled"],
      ]);
      expect(
        (await store.events("J1")).map((event) => [event.type, event.factoryId, event.leaseEpoch, event.stage]),
      ).toEqual([
        ["enqueued", null, null, "queued"],
        ["claimed", "factory-a", 1, "assigned"],
        ["stage", "factory-a", 1, "building"],
        ["cancelled", "factory-a", 2, "cancelled"],
        ["fenced", null, 1, null],
        ["fenced", null, 1, "review"],
        ["fenced", null, 1, null],
      ]);
      expect((await store.events("J1")).find((event) => event.type === "cancelled")?.detail).toBe(
        "holder factory-a fenced at lease 1",
      );

      expect(await store.cancel("J1")).toEqual({ ok: false, reason: "finished", stage: "cancelled" });
      expect(await store.cancel("nope")).toEqual({ ok: false, reason: "missing" });
      expect((await store.report("J2", { stage: "shipped", leaseEpoch: 1 })).ok).toBe(true);
      expect(await store.cancel("J2")).toEqual({ ok: false, reason: "finished", stage: "shipped" });
      // A queued job is cancelled before anyone holds it.
      await store.enqueue({ id: "J3", bodyMd: "z" });
      expect(await store.cancel("J3")).toMatchObject({
        ok: true,
        holder: null,
        job: { stage: "cancelled", leaseEpoch: 1 },
      });
      expect(await store.claim("factory-a", CAPS)).toBeUndefined();
    });

    it("waiting demand: queued jobs grouped by requires, against live fleet factories only (not shadow, not draining, not stale)", async () => {
      const store = await open(await engine.db());
      expect(uncovered(await store.waitingDemand(60_000))).toEqual([]);
      await store.enqueue({ id: "C1", bodyMd: "x", requires: ["engine:codex"] });
      await store.enqueue({ id: "C2", bodyMd: "x", requires: ["engine:codex"] });
      await store.enqueue({ id: "P1", bodyMd: "x" });
      await store.enqueue({ id: "G1", bodyMd: "x", requires: ["gpu:a100", "engine:codex"] });
      // No live factory at all: everything waits.
      expect(
        uncovered(await store.waitingDemand(60_000))
          .map((group) => [group.requires, group.jobs])
          .sort(),
      ).toEqual(
        [
          [[], 1],
          [["engine:codex"], 2],
          [["gpu:a100", "engine:codex"], 1],
        ].sort(),
      );
      expect(
        await store.heartbeat({
          factoryId: "shadow",
          capabilities: ["engine:codex", "gpu:a100"],
          health: "ok",
          load: 0,
          mode: "shadow",
        }),
      ).toEqual({ claimable: 0 });
      await store.heartbeat({
        factoryId: "drainer",
        capabilities: ["engine:codex", "gpu:a100"],
        health: "draining",
        load: 0,
      });
      await store.heartbeat({ factoryId: "plain", capabilities: CAPS, health: "ok", load: 0 });
      expect(uncovered(await store.waitingDemand(60_000))).toEqual(
        expect.arrayContaining([
          { requires: ["engine:codex"], jobs: 2, missing: ["engine:codex"] },
          { requires: ["gpu:a100", "engine:codex"], jobs: 1, missing: ["gpu:a100", "engine:codex"] },
        ]),
      );
      expect(uncovered(await store.waitingDemand(60_000))).toHaveLength(2);
      await store.heartbeat({ factoryId: "codex", capabilities: ["engine:codex"], health: "ok", load: 0 });
      await store.heartbeat({ factoryId: "gpu", capabilities: ["gpu:a100"], health: "degraded", load: 1 });
      // Each capability is offered, but by no one factory together.
      expect(uncovered(await store.waitingDemand(60_000))).toEqual([
        { requires: ["gpu:a100", "engine:codex"], jobs: 1, missing: [] },
      ]);
      // Seen too long ago, a factory no longer counts.
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(uncovered(await store.waitingDemand(10)).length).toBe(3);
      expect((await store.factories()).map((factory) => [factory.id, factory.mode])).toEqual([
        ["codex", "fleet"],
        ["drainer", "fleet"],
        ["gpu", "fleet"],
        ["plain", "fleet"],
        ["shadow", "shadow"],
      ]);
    });

    it("observed stages of shadow factories are kept in order, apart from the fleet's jobs, and pruned with old events", async () => {
      const store = await open(await engine.db());
      for (const stage of ["queued", "assigned", "building", "review"])
        await store.observe({ factoryId: "factory-s", jobId: "L1", stage });
      await store.observe({ factoryId: "factory-t", jobId: "L1", stage: "queued", title: "other host" });
      expect(
        (await store.observedEvents()).map((event) => [event.factoryId, event.jobId, event.stage, event.title]),
      ).toEqual([
        ["factory-s", "L1", "queued", null],
        ["factory-s", "L1", "assigned", null],
        ["factory-s", "L1", "building", null],
        ["factory-s", "L1", "review", null],
        ["factory-t", "L1", "queued", "other host"],
      ]);
      expect(await store.jobs()).toEqual([]);
      expect(await store.pruneEvents(Date.now() + 60_000)).toBe(5);
      expect(await store.observedEvents()).toEqual([]);
    });
  });
}
