import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import type { FleetStore } from "../../src/coordinator/fleet-store.ts";
import { openStore } from "../../src/coordinator/stores.ts";
import { startCoordinator } from "../../src/coordinator/server.ts";
import { useDispatcher } from "../../plugins/shared/http.ts";
import { aq, waitFor } from "../helpers/cli.ts";
import {
  coordinatorProcess,
  simFactory,
  type CoordinatorProcess,
  type SimRecord,
} from "../helpers/coordinator-fleet.ts";
import { usePostgres } from "../helpers/postgres.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { fleetAq, getJson, sendJson } from "../helpers/fleet-world.ts";
import { tcpBalancer } from "../helpers/tcp-balancer.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * The coordinator store's contract, run against both engines: the embedded SQLite store and
 * PostgreSQL (a throw-away cluster). Several store instances (and processes) over one database
 * must behave as one coordinator.
 */

const CAPS = ["os:linux", "engine:shell"];
const pg = usePostgres({ beforeAll, afterAll });
beforeEach(() => useDispatcher(undefined));

const engines = [
  { name: "sqlite", skip: false, processes: 1, db: async () => join(tempDir("aq-contract-"), "coordinator.sqlite") },
  { name: "postgres", skip: pg.skip, processes: 2, db: () => pg.database() },
];

async function open(db: string, leaseMs: number): Promise<FleetStore> {
  const store = await openStore(db, { leaseMs, pool: 4 });
  onTestFinished(() => store.close());
  return store;
}

for (const engine of engines) {
  describe.skipIf(engine.skip)(`coordinator store contract (${engine.name})`, () => {
    it("fences a stale holder: after its lease expired and another took the job, its report, renew and release change nothing", async () => {
      const db = await engine.db();
      const a = await open(db, 300);
      const b = await open(db, 300);
      await a.enqueue({ id: "J1", bodyMd: "echo hi" });
      expect(await a.claim("factory-a", CAPS)).toMatchObject({
        reclaimed: false,
        job: { id: "J1", leaseEpoch: 1, factoryId: "factory-a", stage: "assigned" },
      });
      expect(await b.claim("factory-b", CAPS)).toBeUndefined();
      expect(
        (await a.report("J1", { stage: "building", leaseEpoch: 1, checkpoint: { wipBranch: "aq/x", wipCommit: "c1" } }))
          .ok,
      ).toBe(true);
      const taken = await waitFor(() => b.claim("factory-b", CAPS), 5_000, "the lease to expire");
      expect(taken).toMatchObject({
        reclaimed: true,
        job: { leaseEpoch: 2, factoryId: "factory-b", checkpoint: { wipCommit: "c1" } },
      });
      const before = await b.job("J1");

      expect(await a.report("J1", { stage: "review", leaseEpoch: 1 })).toEqual({
        ok: false,
        reason: "stale",
        currentEpoch: 2,
      });
      expect(await a.renew("J1", 1)).toEqual({ ok: false, reason: "stale", currentEpoch: 2 });
      expect(await a.release("J1", 1)).toEqual({ ok: false, reason: "stale", currentEpoch: 2 });
      expect(await a.report("nope", { stage: "review", leaseEpoch: 1 })).toEqual({ ok: false, reason: "missing" });
      expect(await a.job("J1")).toEqual(before);
      expect((await b.report("J1", { stage: "review", leaseEpoch: 2 })).ok).toBe(true);

      expect(
        (await a.events("J1")).map((event) => [event.type, event.factoryId, event.leaseEpoch, event.stage]),
      ).toEqual([
        ["enqueued", null, null, "queued"],
        ["claimed", "factory-a", 1, "assigned"],
        ["stage", "factory-a", 1, "building"],
        ["lease-expired", "factory-a", 1, "building"],
        ["reclaimed", "factory-b", 2, "assigned"],
        ["fenced", null, 1, "review"],
        ["fenced", null, 1, null],
        ["fenced", null, 1, null],
        ["stage", "factory-b", 2, "review"],
      ]);
      expect((await a.events("J1")).filter((event) => event.type === "fenced").map((event) => event.detail)).toEqual([
        "stale epoch 1; current 2",
        "renew with stale epoch 1; current 2",
        "release with stale epoch 1; current 2",
      ]);
      expect(await b.runs("J1")).toEqual([
        expect.objectContaining({
          factoryId: "factory-a",
          leaseEpoch: 1,
          outcome: "lease-expired",
          endedAt: expect.any(String),
        }),
        expect.objectContaining({ factoryId: "factory-b", leaseEpoch: 2, outcome: null, endedAt: null }),
      ]);
    });

    it("a report delivered twice (its answer lost with a coordinator that died) is one stage event; a new checkpoint is a new one", async () => {
      const db = await engine.db();
      const a = await open(db, 60_000);
      const b = await open(db, 60_000);
      await a.enqueue({ id: "J1", bodyMd: "echo hi" });
      expect(await a.claim("factory-a", CAPS)).toMatchObject({ job: { leaseEpoch: 1 } });
      const c1 = { wipBranch: "aq/x", wipCommit: "c1" };
      for (const store of [a, b])
        expect((await store.report("J1", { stage: "building", leaseEpoch: 1, checkpoint: c1 })).ok).toBe(true);
      expect(
        (await b.report("J1", { stage: "building", leaseEpoch: 1, checkpoint: { ...c1, wipCommit: "c2" } })).ok,
      ).toBe(true);
      for (const store of [a, b, a])
        expect((await store.report("J1", { stage: "review", leaseEpoch: 1 })).ok).toBe(true);
      const stages = (await b.events("J1"))
        .filter((event) => event.type === "stage")
        .map((event) => [event.stage, event.leaseEpoch, event.detail]);
      expect(stages).toEqual([
        ["building", 1, JSON.stringify(c1)],
        ["building", 1, JSON.stringify({ ...c1, wipCommit: "c2" })],
        ["review", 1, null],
      ]);
      expect(await a.job("J1")).toMatchObject({ stage: "review", leaseEpoch: 1, factoryId: "factory-a" });
    });

    it("two store instances racing: one job goes to exactly one claimer; twelve jobs to twelve claimers, none told 'nothing to do'", async () => {
      const db = await engine.db();
      const a = await open(db, 60_000);
      const b = await open(db, 60_000);
      await a.enqueue({ id: "only", bodyMd: "x" });
      const one = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).claim(`factory-${i}`, CAPS)));
      const winners = one.filter((claim) => claim !== undefined);
      expect(winners.map((claim) => [claim!.job.id, claim!.job.leaseEpoch])).toEqual([["only", 1]]);

      const ids = Array.from({ length: 12 }, (_, i) => `J${String(i).padStart(2, "0")}`);
      for (const id of ids) await (ids.indexOf(id) % 2 ? a : b).enqueue({ id, bodyMd: "x" });
      const many = await Promise.all(ids.map((_, i) => (i % 2 ? a : b).claim(`racer-${i}`, CAPS)));
      expect(many.every((claim) => claim !== undefined)).toBe(true);
      expect(many.map((claim) => claim!.job.id).sort()).toEqual(ids);
      expect(new Set(many.map((claim) => claim!.job.factoryId)).size).toBe(12);
      for (const id of ids) expect((await a.runs(id)).map((run) => run.leaseEpoch)).toEqual([1]);
      expect(await a.claim("late", CAPS)).toBeUndefined();
    });

    it("expiry and reclaim: renewals keep the lease; once they stop, racing claimers reclaim it once, under epoch + 1", async () => {
      const db = await engine.db();
      const a = await open(db, 400);
      // The racers grant long leases, so the winner's lease cannot run out while the race is judged.
      const c = await open(db, 60_000);
      const d = await open(db, 60_000);
      await a.enqueue({ id: "J1", bodyMd: "x" });
      await a.enqueue({ id: "J2", bodyMd: "x", requires: ["gpu:a100"], priority: 5 });
      expect(await a.claim("factory-a", CAPS)).toMatchObject({ job: { id: "J1" } });
      const keptUntil = Date.now() + 900;
      while (Date.now() < keptUntil) {
        expect(await a.renew("J1", 1)).toMatchObject({
          ok: true,
          value: { leaseEpoch: 1, factoryId: "factory-a", leaseExpiresAt: expect.any(Number) },
        });
        expect(await c.claim("factory-c", CAPS)).toBeUndefined();
        await new Promise((done) => setTimeout(done, 100));
      }
      expect(await c.heartbeat({ factoryId: "factory-c", capabilities: CAPS, health: "ok", load: 0 })).toEqual({
        claimable: 0,
      });
      await waitFor(
        async () =>
          (await c.heartbeat({ factoryId: "factory-c", capabilities: CAPS, health: "ok", load: 0 })).claimable === 1,
        5_000,
        "the lease to expire",
      );
      const racing = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? c : d).claim(`racer-${i}`, CAPS)));
      const won = racing.filter((claim) => claim !== undefined);
      expect(won).toHaveLength(1);
      expect(won[0]).toMatchObject({ reclaimed: true, job: { id: "J1", leaseEpoch: 2, stage: "assigned" } });
      expect(await a.renew("J1", 1)).toMatchObject({ ok: false, reason: "stale", currentEpoch: 2 });
      expect((await a.events("J1")).map((event) => `${event.type}:${event.leaseEpoch ?? "-"}`)).toEqual([
        "enqueued:-",
        "claimed:1",
        "renewed:1",
        "lease-expired:1",
        "reclaimed:2",
        "fenced:1",
      ]);
      expect((await a.runs("J1")).map((run) => [run.leaseEpoch, run.outcome])).toEqual([
        [1, "lease-expired"],
        [2, null],
      ]);
      // The job needing a GPU, first in line, was never handed to a factory without one.
      expect(await a.job("J2")).toMatchObject({ stage: "queued", leaseEpoch: 0 });
      expect(await c.claim("factory-g", [...CAPS, "gpu:a100"])).toMatchObject({ job: { id: "J2", leaseEpoch: 1 } });
    });

    it("release and re-release: a released job is queued again under the same epoch, a second release is stale, a finished job stays finished", async () => {
      const db = await engine.db();
      const a = await open(db, 60_000);
      const b = await open(db, 60_000);
      await a.enqueue({ id: "J1", bodyMd: "x" });
      await a.claim("factory-a", CAPS);
      expect(await b.release("J1", 1)).toEqual({
        ok: true,
        value: { stage: "queued", leaseEpoch: 1, factoryId: null, leaseExpiresAt: null },
      });
      expect(await a.release("J1", 1)).toEqual({ ok: false, reason: "stale", currentEpoch: 1 });
      expect(await a.report("J1", { stage: "building", leaseEpoch: 1 })).toEqual({
        ok: false,
        reason: "stale",
        currentEpoch: 1,
      });
      expect(await b.claim("factory-b", CAPS)).toMatchObject({
        reclaimed: false,
        job: { leaseEpoch: 2, factoryId: "factory-b" },
      });
      expect((await b.report("J1", { stage: "shipped", leaseEpoch: 2 })).ok).toBe(true);
      expect(await a.renew("J1", 2)).toMatchObject({ ok: false, reason: "stale" });
      expect(await b.release("J1", 2)).toMatchObject({ ok: true, value: { stage: "shipped", factoryId: null } });
      expect(await b.release("J1", 2)).toMatchObject({ ok: false, reason: "stale" });
      expect(await a.claim("factory-a", CAPS)).toBeUndefined();
      expect(await a.job("J1")).toMatchObject({
        stage: "shipped",
        leaseEpoch: 2,
        factoryId: null,
        leaseExpiresAt: null,
      });
      expect((await a.runs("J1")).map((run) => [run.factoryId, run.leaseEpoch, run.outcome])).toEqual([
        ["factory-a", 1, "released"],
        ["factory-b", 2, "shipped"],
      ]);
      expect((await a.events("J1")).map((event) => event.type)).toEqual([
        "enqueued",
        "claimed",
        "released",
        "fenced",
        "fenced",
        "claimed",
        "stage",
        "fenced",
        "released",
        "fenced",
      ]);
      expect((await a.events("J1"))[4]!.detail).toBe("lease 1 was released");
      // Events of finished, released jobs can be pruned; a job still held keeps its timeline.
      await a.enqueue({ id: "J2", bodyMd: "x" });
      await a.claim("factory-a", CAPS);
      expect(await a.pruneEvents(Date.now() + 60_000)).toBe(10);
      expect(await a.events("J1")).toEqual([]);
      expect((await a.events("J2")).map((event) => event.type)).toEqual(["enqueued", "claimed"]);
    });

    it("migrations: coordinators starting together on a fresh database apply each version once; aq coordinator migrate reports it", async () => {
      requireBuild();
      const db = await engine.db();
      const stores = await Promise.all(Array.from({ length: 3 }, () => open(db, 60_000)));
      await stores[0]!.enqueue({ id: "J1", bodyMd: "x" });
      expect((await stores[2]!.job("J1"))?.stage).toBe("queued");
      const migrated = await aq(["coordinator", "migrate", "--db", db, "--json"], { cwd: tempDir("aq-migrate-") });
      expect(migrated.code, migrated.stderr).toBe(0);
      const answer = JSON.parse(migrated.stdout);
      expect(answer).toMatchObject({ engine: engine.name, applied: [] });
      expect(answer.current).toBeGreaterThanOrEqual(1);
      expect(migrated.stdout).not.toMatch(/:[^:@/]*@/);
    });

    it("enrolled factories: a token acts only for its factory and on leases granted to it; a revoked token is refused and its leases fenced", async () => {
      requireBuild();
      const db = await engine.db();
      const admin = "tok-ADMIN-7f3e";
      const coord = await startCoordinator({ port: 0, host: "127.0.0.1", db, leaseMs: 60_000, token: admin });
      onTestFinished(() => coord.close());
      const { api } = coord;
      const enrolledA = await sendJson("POST", `${api}/admin/factories`, { factoryId: "factory-a" }, admin);
      expect(enrolledA.status, enrolledA.text).toBe(201);
      const tokenA: string = enrolledA.body.token;
      const cli = await aq(["coordinator", "enroll", "factory-b", "--db", db, "--json"], {
        cwd: tempDir("aq-enroll-"),
      });
      expect(cli.code, cli.stderr).toBe(0);
      const tokenB: string = JSON.parse(cli.stdout).token;
      expect(tokenB).toMatch(/^aqf_/);
      expect(tokenB).not.toBe(tokenA);
      for (const id of ["J1", "J2"])
        expect((await sendJson("POST", `${api}/dev/jobs`, { id, bodyMd: "x" }, admin)).status).toBe(201);

      const beat = (factoryId: string, token?: string) =>
        sendJson(
          "POST",
          `${api}/fleet/factories/heartbeat`,
          { factoryId, capabilities: CAPS, health: "ok", load: 0 },
          token,
        );
      const claim = (factoryId: string, token?: string) =>
        sendJson("POST", `${api}/fleet/claim`, { factoryId, capabilities: CAPS }, token);
      // B's token cannot heartbeat or claim as A, nor reach the operator's routes.
      expect((await beat("factory-a", tokenB)).status).toBe(403);
      expect((await claim("factory-a", tokenB)).status).toBe(403);
      expect((await sendJson("POST", `${api}/admin/factories`, { factoryId: "factory-z" }, tokenB)).status).toBe(403);
      expect((await sendJson("POST", `${api}/dev/jobs`, { bodyMd: "x" }, tokenB)).status).toBe(403);
      expect((await beat("factory-a", tokenA)).status).toBe(200);
      const claimed = await claim("factory-a", tokenA);
      expect(claimed.body).toMatchObject({ job: { id: "J1" }, leaseEpoch: 1 });
      // B cannot touch A's lease: 403, and nothing changes.
      expect((await sendJson("PATCH", `${api}/fleet/jobs/J1`, { stage: "review", leaseEpoch: 1 }, tokenB)).status).toBe(
        403,
      );
      expect((await sendJson("POST", `${api}/fleet/jobs/J1/lease/renew`, { leaseEpoch: 1 }, tokenB)).status).toBe(403);
      expect((await sendJson("POST", `${api}/fleet/jobs/J1/lease/release`, { leaseEpoch: 1 }, tokenB)).status).toBe(
        403,
      );
      expect(
        (await sendJson("PATCH", `${api}/fleet/jobs/nope`, { stage: "review", leaseEpoch: 1 }, tokenB)).status,
      ).toBe(404);
      expect(await coord.fleetStore.job("J1")).toMatchObject({
        stage: "assigned",
        factoryId: "factory-a",
        leaseEpoch: 1,
      });
      expect((await claim("factory-b", tokenB)).body).toMatchObject({ job: { id: "J2" }, leaseEpoch: 1 });
      expect(
        (await sendJson("PATCH", `${api}/fleet/jobs/J1`, { stage: "building", leaseEpoch: 1 }, tokenA)).status,
      ).toBe(200);
      // Once factories are enrolled, the shared token (and no token) no longer work on fleet routes.
      expect((await beat("factory-a", admin)).status).toBe(401);
      expect((await beat("factory-a")).status).toBe(401);
      expect((await beat("factory-a", "aqf_not-a-token")).status).toBe(401);

      const listed = await getJson(`${api}/admin/factories`, admin);
      expect(
        listed.body.enrollments.map((entry: { factoryId: string; revokedAt: string | null }) => [
          entry.factoryId,
          entry.revokedAt,
        ]),
      ).toEqual([
        ["factory-a", null],
        ["factory-b", null],
      ]);
      expect(listed.text).not.toContain(tokenA);
      // Stored hashed: the token itself is nowhere in the database.
      if (engine.name === "sqlite")
        for (const file of [db, `${db}-wal`])
          if (existsSync(file)) expect(readFileSync(file).includes(tokenA)).toBe(false);
      const revoked = await sendJson("DELETE", `${api}/admin/factories/factory-a`, undefined, admin);
      expect(revoked.body).toEqual({ factoryId: "factory-a", revoked: 1, fencedJobs: ["J1"] });
      expect((await beat("factory-a", tokenA)).status).toBe(401);
      expect((await sendJson("PATCH", `${api}/fleet/jobs/J1`, { stage: "review", leaseEpoch: 1 }, tokenA)).status).toBe(
        401,
      );
      expect(await coord.fleetStore.job("J1")).toMatchObject({ stage: "queued", factoryId: null, leaseEpoch: 1 });
      expect(await coord.fleetStore.report("J1", { stage: "review", leaseEpoch: 1 })).toMatchObject({
        ok: false,
        reason: "stale",
      });
      expect((await coord.fleetStore.events("J1")).map((event) => event.type)).toContain("revoked");
      expect((await coord.fleetStore.runs("J1")).map((run) => run.outcome)).toEqual(["revoked"]);
      expect((await claim("factory-b", tokenB)).body).toMatchObject({ job: { id: "J1" }, leaseEpoch: 2 });

      // Told to (development), a coordinator still accepts the shared token from factories.
      const dev = await startCoordinator({
        port: 0,
        host: "127.0.0.1",
        db,
        leaseMs: 60_000,
        token: admin,
        acceptSharedToken: true,
      });
      onTestFinished(() => dev.close());
      expect(
        (
          await sendJson(
            "POST",
            `${dev.api}/fleet/factories/heartbeat`,
            { factoryId: "factory-dev", capabilities: CAPS, health: "ok", load: 0 },
            admin,
          )
        ).status,
      ).toBe(200);

      // A real factory needs nothing but its token.
      const c = await aq(["coordinator", "enroll", "factory-c", "--db", db], { cwd: tempDir("aq-enroll-") });
      const tokenC = c.stdout.trim();
      expect(c.stderr).not.toContain(tokenC);
      expect(
        (await sendJson("POST", `${api}/dev/jobs`, { id: "J3", bodyMd: "true", options: { engine: "shell" } }, admin))
          .status,
      ).toBe(201);
      const factory = await fleetAq(tempDir("aq-enrolled-factory-"), {
        AQ_FLEET_API: api,
        AQ_FLEET_TOKEN: tokenC,
        AQ_FACTORY_ID: "factory-c",
      });
      const summary = await factory.drain();
      expect(Object.values(summary.outcomes)).toEqual(["review"]);
      expect(await coord.fleetStore.job("J3")).toMatchObject({ stage: "review", factoryId: "factory-c" });
      expect(factory.loudLines()).toEqual([]);
    }, 90_000);

    describe("coordinator processes", () => {
      async function fleet(db: string, count: number) {
        requireBuild();
        const cwd = tempDir("aq-coord-procs-");
        const seed = await open(db, 3_000);
        const ids = Array.from({ length: 10 }, (_, i) => `P${String(i).padStart(2, "0")}`);
        for (const id of ids) await seed.enqueue({ id, bodyMd: "x" });
        const processes: CoordinatorProcess[] = await Promise.all(
          Array.from({ length: count }, () => coordinatorProcess(db, { cwd })),
        );
        const ports = processes.map((process) => process.port);
        for (const process of processes)
          expect(await (await fetch(`${process.api}/health`)).json()).toEqual({ ok: true, engine: engine.name });
        const balancer = await tcpBalancer(() => ports);
        const record: SimRecord = { accepted: [], claims: [], fenced: 0, networkErrors: 0 };
        let finished = false;
        const shipped = async () =>
          (await seed.jobs()).filter((job) => job.stage === "shipped" && job.factoryId === null).length;
        const factories = Array.from({ length: 4 }, (_, i) =>
          simFactory(balancer.api, `sim-${i}`, () => finished, record, 40),
        );
        return {
          db,
          cwd,
          seed,
          ids,
          processes,
          ports,
          record,
          shipped,
          async finish() {
            await waitFor(async () => (await shipped()) === ids.length, 30_000, "every job shipped");
            finished = true;
            await Promise.all(factories);
          },
        };
      }

      /** Every job shipped and released once; no epoch ever held by two factories; each job's epochs only grow. */
      async function expectOneCoordinator(world: Awaited<ReturnType<typeof fleet>>) {
        const { seed, ids, record } = world;
        for (const id of ids) {
          const runs = await seed.runs(id);
          expect(
            runs.filter((run) => run.outcome === "shipped"),
            id,
          ).toHaveLength(1);
          expect(
            runs.every((run) => run.endedAt !== null),
            id,
          ).toBe(true);
          // A fenced event names the stale epoch it refused; every other event carries the epoch it happened under.
          const epochs = (await seed.events(id))
            .filter((event) => event.type !== "fenced")
            .map((event) => event.leaseEpoch)
            .filter((epoch) => epoch !== null);
          expect(epochs, id).toEqual([...epochs].sort((x, y) => x - y));
          expect(new Set(runs.map((run) => run.leaseEpoch)).size, id).toBe(runs.length);
        }
        const holders = new Map<string, Set<string>>();
        for (const entry of [...record.claims, ...record.accepted]) {
          const key = `${entry.job}@${entry.epoch}`;
          holders.set(key, (holders.get(key) ?? new Set()).add(entry.factory));
        }
        expect([...holders].filter(([, set]) => set.size > 1)).toEqual([]);
        expect(
          record.accepted
            .filter((entry) => entry.stage === "shipped")
            .map((entry) => entry.job)
            .sort(),
        ).toEqual(expect.arrayContaining(ids));
      }

      it("restart of every coordinator process mid-run loses no job, lease or event", async () => {
        const world = await fleet(await engine.db(), engine.processes);
        await waitFor(async () => (await world.shipped()) >= 3, 20_000, "three jobs shipped");
        const held = (await world.seed.jobs()).filter((job) => job.factoryId !== null);
        await Promise.all(world.processes.map((process) => process.stop("SIGTERM")));
        world.processes.splice(
          0,
          Infinity,
          ...(await Promise.all(world.ports.map((port) => coordinatorProcess(world.db, { cwd: world.cwd, port })))),
        );
        // What was held before the restart is still held, under the same epochs (or has moved on since, never back).
        for (const job of held)
          expect((await world.seed.job(job.id))!.leaseEpoch).toBeGreaterThanOrEqual(job.leaseEpoch);
        await world.finish();
        await expectOneCoordinator(world);
      }, 90_000);

      it("a coordinator killed with kill -9 while factories work: the others (or its restart) carry on, nothing lost", async () => {
        const world = await fleet(await engine.db(), engine.processes);
        await waitFor(async () => (await world.shipped()) >= 3, 20_000, "three jobs shipped");
        await world.processes[0]!.stop("SIGKILL");
        // With one process (SQLite) the fleet waits for its restart on the same file; with more, the rest serve.
        if (engine.processes === 1)
          world.processes[0] = await coordinatorProcess(world.db, { cwd: world.cwd, port: world.ports[0]! });
        await world.finish();
        await expectOneCoordinator(world);
      }, 90_000);
    });
  });
}
