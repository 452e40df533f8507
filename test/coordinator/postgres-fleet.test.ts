import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { PostgresStore } from "../../src/coordinator/postgres-store.ts";
import { startAq, waitFor, writeTestConfig } from "../helpers/cli.ts";
import { coordinatorProcess } from "../helpers/coordinator-fleet.ts";
import { idsIn } from "../helpers/jobs.ts";
import { usePostgres } from "../helpers/postgres.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tcpBalancer } from "../helpers/tcp-balancer.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * End to end: two `aq coordinator` processes over one PostgreSQL database behind a load
 * balancer, three real `aq run` factories (AQ_FLEET=1) spread over them, one coordinator killed
 * with SIGKILL midway. The fleet must not notice beyond a retried call.
 */

const pg = usePostgres({ beforeAll, afterAll });

describe.skipIf(pg.skip)("a fleet on two coordinator processes over PostgreSQL", () => {
  it("every job reaches review exactly once though a coordinator is killed midway; epochs never go back; events and runs are complete", async () => {
    requireBuild();
    const db = await pg.database();
    const store = await PostgresStore.open(db, { leaseMs: 3_000, pool: 2 });
    onTestFinished(() => store.close());
    const ids = Array.from({ length: 9 }, (_, i) => `E${i + 1}`);
    for (const id of ids) await store.enqueue({ id, bodyMd: "sleep 0.3", options: { engine: "shell" } });

    const cwd = tempDir("aq-pg-fleet-");
    const coordinators = await Promise.all([coordinatorProcess(db, { cwd }), coordinatorProcess(db, { cwd })]);
    const ports = coordinators.map((coordinator) => coordinator.port);
    const balancer = await tcpBalancer(() => ports);
    const factories = ["factory-1", "factory-2", "factory-3"].map((factoryId) => {
      const dir = tempDir(`aq-${factoryId}-`);
      writeTestConfig(dir, { plugins: [["tracker-echo", false]] });
      const env = {
        AQ_FLEET: "1",
        AQ_FLEET_API: balancer.api,
        AQ_FACTORY_ID: factoryId,
        AQ_FLEET_TOKEN: "tok-e2e",
        AQ_FLEET_LEASE_RENEW_SEC: "0.2",
      };
      const child = startAq(["run"], { cwd: dir, env });
      onTestFinished(() => {
        if (child.exitCode === null) child.kill("SIGKILL");
      });
      return { factoryId, queue: join(dir, "queue"), child };
    });
    const reviewed = async () => (await store.jobs()).filter((job) => job.stage === "review").length;

    await waitFor(async () => (await reviewed()) >= 3, 30_000, "three jobs in review");
    await coordinators[0]!.stop("SIGKILL");
    await waitFor(async () => (await reviewed()) === ids.length, 30_000, "every job in review");
    for (const factory of factories) factory.child.kill("SIGTERM");
    const exits = await Promise.all(factories.map((factory) => factory.child.exited));
    for (const exit of exits) expect(exit.code, exit.stderr).toBe(0);

    // Each job reached review once, at exactly one factory, under the epoch the coordinator holds.
    const local = factories.flatMap((factory) =>
      idsIn(factory.queue, "review").map((localId) => ({ factory: factory.factoryId, localId })),
    );
    expect(local).toHaveLength(ids.length);
    for (const id of ids) {
      const job = (await store.job(id))!;
      const events = await store.events(id);
      const reviews = events.filter((event) => event.type === "stage" && event.stage === "review");
      expect(
        reviews.map((event) => [event.factoryId, event.leaseEpoch]),
        id,
      ).toEqual([[job.factoryId, job.leaseEpoch]]);
      expect(
        local.filter((entry) => entry.localId === `fleet-${id}-e${job.leaseEpoch}`).map((entry) => entry.factory),
        id,
      ).toEqual([job.factoryId]);
      const epochs = events
        .filter((event) => event.type !== "fenced" && event.leaseEpoch !== null)
        .map((event) => event.leaseEpoch!);
      expect(epochs, id).toEqual([...epochs].sort((a, b) => a - b));
      expect(events[0]!.type).toBe("enqueued");
      expect(
        events
          .filter((event) => event.type === "claimed" || event.type === "reclaimed")
          .map((event) => event.leaseEpoch),
        id,
      ).toEqual(Array.from({ length: job.leaseEpoch }, (_, i) => i + 1));
      expect(
        events.some(
          (event) => event.type === "stage" && event.stage === "building" && event.leaseEpoch === job.leaseEpoch,
        ),
        id,
      ).toBe(true);
      // One run per epoch; all but the current one ended (lease expired or released), the current one open in review.
      const runs = await store.runs(id);
      expect(
        runs.map((run) => run.leaseEpoch),
        id,
      ).toEqual(Array.from({ length: job.leaseEpoch }, (_, i) => i + 1));
      expect(runs.at(-1), id).toMatchObject({ factoryId: job.factoryId, endedAt: null, outcome: null });
      expect(
        runs.slice(0, -1).every((run) => run.endedAt !== null),
        id,
      ).toBe(true);
    }
    // Both coordinators served factories before the kill.
    expect(Object.keys(balancer.connections()).length).toBe(2);
  }, 120_000);
});
