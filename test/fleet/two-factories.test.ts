import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeEach, describe, expect, it } from "vitest";
import { useDispatcher } from "../../plugins/shared/http.ts";
import { Runner } from "../../src/core/runner.ts";
import { waitFor } from "../helpers/cli.ts";
import { coordinator, devJob, fleetAq, localId, outboxIn, portOf, recordingProxy } from "../helpers/fleet-world.ts";
import { idsIn, metaOf, stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * The brief's Phase 2 exit criterion: two factories against one coordinator never both finish
 * the same fleet job, whatever the timing (racing claims, a partition, a coordinator restart).
 */

beforeEach(() => useDispatcher(undefined));

const CAPS = ["os:linux", "engine:shell"];

function factory(api: string, id: string, env: Record<string, string> = {}) {
  return fleetAq(tempDir(`aq-${id}-`), {
    AQ_FLEET_API: api,
    AQ_FACTORY_ID: id,
    AQ_FLEET_LEASE_RENEW_SEC: "0.1",
    ...env,
  });
}

describe("two factories, one coordinator", () => {
  it("racing for six jobs, each job is claimed, run and reviewed by exactly one factory", async () => {
    const coord = await coordinator({ leaseMs: 5_000 });
    const ids = ["J1", "J2", "J3", "J4", "J5", "J6"];
    for (const id of ids) coord.store.enqueue(devJob(id, "sleep 0.25"));
    const a = await factory(coord.api, "factory-a");
    const b = await factory(coord.api, "factory-b");
    const [byA, byB] = await Promise.all([a.drain(), b.drain()]);

    const reviewedByA = idsIn(a.queue, "review");
    const reviewedByB = idsIn(b.queue, "review");
    expect(Object.values(byA.outcomes).every((stage) => stage === "review")).toBe(true);
    expect(Object.values(byB.outcomes).every((stage) => stage === "review")).toBe(true);
    expect(reviewedByA.length).toBeGreaterThanOrEqual(1);
    expect(reviewedByB.length).toBeGreaterThanOrEqual(1);
    expect([...reviewedByA, ...reviewedByB].sort()).toEqual(ids.map((id) => localId(id, 1)));
    expect(reviewedByA.filter((id) => reviewedByB.includes(id))).toEqual([]);
    for (const id of ids) {
      const holder = reviewedByA.includes(localId(id, 1)) ? "factory-a" : "factory-b";
      expect(coord.store.job(id)).toMatchObject({ stage: "review", leaseEpoch: 1, factoryId: holder });
      const reviews = coord.store.events(id).filter((event) => event.type === "stage" && event.stage === "review");
      expect(reviews.map((event) => [event.factoryId, event.leaseEpoch])).toEqual([[holder, 1]]);
      expect(coord.store.runs(id)).toEqual([expect.objectContaining({ factoryId: holder, leaseEpoch: 1 })]);
      expect(coord.store.events(id).filter((event) => event.type === "fenced")).toEqual([]);
    }
    expect(idsIn(a.queue, "failed")).toEqual([]);
    expect(idsIn(b.queue, "failed")).toEqual([]);
  });

  it("split brain: a partitioned factory whose lease expired is fenced when it comes back; only the new holder's run reaches review", async () => {
    const coord = await coordinator({ leaseMs: 400 });
    coord.store.enqueue(devJob("J1", `sleep 1.5\ntouch "${"$"}AQ_QUEUE_DIR/../done-${"$"}AQ_JOB_ID"`));
    const proxy = await recordingProxy(coord.api);
    const a = await factory(proxy.api, "factory-a");
    const b = await factory(coord.api, "factory-b");
    const runA = a.once();
    let runB: Promise<unknown> | undefined;
    try {
      await waitFor(
        () => coord.store.events("J1").some((event) => event.type === "stage" && event.stage === "building"),
        5_000,
        "factory-a building",
      );
      proxy.down = true;
      await waitFor(
        () => (coord.store.job("J1")?.leaseExpiresAt ?? Infinity) < Date.now(),
        3_000,
        "factory-a's lease to expire",
      );
      runB = b.once();
      await waitFor(() => coord.store.job("J1")?.factoryId === "factory-b", 3_000, "factory-b's reclaim");
      proxy.down = false;
    } finally {
      proxy.down = false;
      await runA;
      await runB;
    }
    const idA = localId("J1", 1);
    const idB = localId("J1", 2);
    expect(stageOf(a.queue, idA)).toBe("failed");
    expect(metaOf(a.queue, idA).reason).toBe("fenced");
    expect(existsSync(join(a.queue, "..", `done-${idA}`))).toBe(false);
    expect(stageOf(b.queue, idB)).toBe("review");
    expect(existsSync(join(b.queue, "..", `done-${idB}`))).toBe(true);
    // The coordinator saw one review, by the new holder under the new epoch.
    const reviews = coord.store.events("J1").filter((event) => event.type === "stage" && event.stage === "review");
    expect(reviews.map((event) => [event.factoryId, event.leaseEpoch])).toEqual([["factory-b", 2]]);
    expect(coord.store.job("J1")).toMatchObject({ stage: "review", leaseEpoch: 2, factoryId: "factory-b" });
    expect(coord.store.runs("J1")).toEqual([
      expect.objectContaining({ factoryId: "factory-a", leaseEpoch: 1, outcome: "lease-expired" }),
      expect.objectContaining({ factoryId: "factory-b", leaseEpoch: 2, outcome: null }),
    ]);
    // Back from the partition, factory-a's renew was refused, and no review of it was ever accepted.
    expect(proxy.of("renew").some((request) => request.json.leaseEpoch === 1 && request.status === 409)).toBe(true);
    expect(
      proxy
        .of("report")
        .filter((request) => request.json.stage !== "building")
        .filter((request) => request.status === 200),
    ).toEqual([]);
  });

  it("a factory that is alive keeps the lease of a job it holds in review: the other factory finds nothing to claim", async () => {
    // Twenty renewals (every 0.1 s) per lease: a busy machine's late timers still renew in time.
    const coord = await coordinator({ leaseMs: 2_000 });
    coord.store.enqueue(devJob("J1", "true"));
    const a = await factory(coord.api, "factory-a");
    const b = await factory(coord.api, "factory-b");
    const runner = new Runner(a.aq);
    const running = runner.run({ mode: "forever", concurrency: 1 });
    try {
      await waitFor(() => stageOf(a.queue, localId("J1", 1)) === "review", 5_000, "J1 in review at factory-a");
      // Two lease lengths later, factory-a still runs and holds J1.
      await sleep(4_000);
      const byB = await b.drain();
      expect(byB.outcomes).toEqual({});
    } finally {
      runner.stop();
      await running;
    }
    expect(coord.store.job("J1")).toMatchObject({ stage: "review", leaseEpoch: 1, factoryId: "factory-a" });
    expect(coord.store.runs("J1")).toHaveLength(1);
  });

  it("a coordinator restarted on the same database between claim and report keeps the lease and the epoch: the report after the restart is accepted", async () => {
    const db = join(tempDir("aq-fleet-db-"), "coordinator.sqlite");
    const first = await coordinator({ db, leaseMs: 60_000 });
    first.store.enqueue(
      devJob("J1", `i=0; while [ ! -f "${"$"}AQ_QUEUE_DIR/../go" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done`),
    );
    const a = await factory(first.api, "factory-a");
    const running = a.drain();
    let again: Awaited<ReturnType<typeof coordinator>> | undefined;
    let held: unknown;
    try {
      await waitFor(
        () => first.store.events("J1").some((event) => event.type === "stage" && event.stage === "building"),
        5_000,
        "the building report",
      );
      held = first.store.job("J1");
      await first.close();
      again = await coordinator({ db, port: portOf(first.url), leaseMs: 60_000 });
      expect(again.store.job("J1")).toEqual(held);
    } finally {
      writeFileSync(join(a.queue, "..", "go"), "");
      await running;
    }
    const id = localId("J1", 1);
    expect(stageOf(a.queue, id)).toBe("review");
    expect(outboxIn(metaOf(a.queue, id))).toEqual([]);
    expect(again!.store.job("J1")).toMatchObject({ stage: "review", leaseEpoch: 1, factoryId: "factory-a" });
    const stages = again!.store.events("J1").filter((event) => event.type === "stage");
    expect(stages.map((event) => [event.stage, event.leaseEpoch, event.factoryId])).toEqual([
      ["building", 1, "factory-a"],
      ["review", 1, "factory-a"],
    ]);
    expect(again!.store.events("J1").filter((event) => event.type === "fenced")).toEqual([]);
    // And a second factory still cannot take it.
    expect(again!.store.claim("factory-b", CAPS)).toBeUndefined();
  });
});
