import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { startCoordinator } from "../../src/coordinator/server.ts";
import { AqError } from "../../src/core/errors.ts";
import { aq, printedApiUrl, startAq } from "../helpers/cli.ts";
import { coordinator, getJson, portOf, sendJson } from "../helpers/fleet-world.ts";
import { expectOneLine, requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";

/** docs/design.md ("The fleet plugin")/§8 over real loopback HTTP: the development coordinator's contract. */

const CAPS = ["os:linux", "engine:shell"];
const SECRET_PROMPT = "PROMPT-COORD-SENTINEL-4c1d";

async function enqueue(api: string, job: Record<string, unknown>, token?: string) {
  const answer = await sendJson("POST", `${api}/dev/jobs`, job, token);
  expect(answer.status, answer.text).toBe(201);
  return answer.body;
}

const claim = (api: string, factoryId: string, token?: string) =>
  sendJson("POST", `${api}/fleet/claim`, { factoryId, capabilities: CAPS }, token);

describe("development coordinator over HTTP", () => {
  it("claim grows the epoch on every (re)claim and answers 204 when there is nothing to claim", async () => {
    const coord = await coordinator({ leaseMs: 60_000 });
    await enqueue(coord.api, { id: "J1", bodyMd: "echo hi" });
    const first = await claim(coord.api, "factory-a");
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      job: { id: "J1", bodyMd: "echo hi", options: {}, checkpoint: null },
      leaseEpoch: 1,
      leaseExpiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(Date.parse(first.body.leaseExpiresAt) - Date.now()).toBeGreaterThan(50_000);
    expect((await claim(coord.api, "factory-b")).status).toBe(204);
    expect((await sendJson("POST", `${coord.api}/fleet/jobs/J1/lease/release`, { leaseEpoch: 1 })).status).toBe(200);
    const second = await claim(coord.api, "factory-b");
    expect(second.body.leaseEpoch).toBe(2);
    expect((await getJson(`${coord.api}/fleet/jobs/J1`)).body).toMatchObject({
      leaseEpoch: 2,
      factoryId: "factory-b",
      stage: "assigned",
    });
  });

  it("a PATCH, renew or release with a stale epoch answers 409 and changes nothing", async () => {
    const coord = await coordinator({ leaseMs: 60_000 });
    await enqueue(coord.api, { id: "J1", bodyMd: "echo hi" });
    await claim(coord.api, "factory-a");
    await sendJson("POST", `${coord.api}/fleet/jobs/J1/lease/release`, { leaseEpoch: 1 });
    await claim(coord.api, "factory-b");
    expect((await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, { stage: "building", leaseEpoch: 2 })).status).toBe(
      200,
    );
    const before = (await getJson(`${coord.api}/fleet/jobs/J1`)).body;

    const patch = await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, {
      stage: "review",
      leaseEpoch: 1,
      checkpoint: { wipBranch: "aq/stale", wipCommit: "0000" },
    });
    expect(patch.status).toBe(409);
    expect(patch.body).toMatchObject({ currentEpoch: 2 });
    expect((await sendJson("POST", `${coord.api}/fleet/jobs/J1/lease/renew`, { leaseEpoch: 1 })).status).toBe(409);
    expect((await sendJson("POST", `${coord.api}/fleet/jobs/J1/lease/release`, { leaseEpoch: 1 })).status).toBe(409);
    expect((await getJson(`${coord.api}/fleet/jobs/J1`)).body).toEqual(before);
    // Not a 409 for what is not a stale epoch: unknown job 404, a bad body 400.
    expect((await sendJson("PATCH", `${coord.api}/fleet/jobs/nope`, { stage: "review", leaseEpoch: 1 })).status).toBe(
      404,
    );
    expect((await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, { stage: "sideways", leaseEpoch: 2 })).status).toBe(
      400,
    );
    expect((await getJson(`${coord.api}/fleet/jobs/J1`)).body).toEqual(before);
  });

  it("an expired lease makes the job claimable again with epoch + 1, and the old holder is fenced", async () => {
    const coord = await coordinator({ leaseMs: 300 });
    await enqueue(coord.api, { id: "J1", bodyMd: "echo hi" });
    expect((await claim(coord.api, "factory-a")).body.leaseEpoch).toBe(1);
    expect((await claim(coord.api, "factory-b")).status).toBe(204);
    await sleep(350);
    const reclaimed = await claim(coord.api, "factory-b");
    expect(reclaimed.status).toBe(200);
    expect(reclaimed.body).toMatchObject({ job: { id: "J1" }, leaseEpoch: 2 });
    expect((await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, { stage: "building", leaseEpoch: 1 })).status).toBe(
      409,
    );
    expect((await sendJson("POST", `${coord.api}/fleet/jobs/J1/lease/renew`, { leaseEpoch: 1 })).status).toBe(409);
    expect((await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, { stage: "building", leaseEpoch: 2 })).status).toBe(
      200,
    );
  });

  it("records events and runs, readable at GET /api/fleet/jobs/:id/events and /runs", async () => {
    const coord = await coordinator({ leaseMs: 60_000 });
    await enqueue(coord.api, { id: "J1", bodyMd: "echo hi" });
    expect(
      (
        await sendJson("POST", `${coord.api}/fleet/factories/heartbeat`, {
          factoryId: "factory-a",
          capabilities: CAPS,
          health: "ok",
          load: 0,
        })
      ).body,
    ).toEqual({ ok: true, claimable: 1 });
    await claim(coord.api, "factory-a");
    await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, {
      stage: "building",
      leaseEpoch: 1,
      checkpoint: { wipBranch: "aq/fleet-J1-e1", wipCommit: "c0" },
    });
    const renewed = await sendJson("POST", `${coord.api}/fleet/jobs/J1/lease/renew`, { leaseEpoch: 1 });
    expect(renewed.body).toEqual({ ok: true, leaseExpiresAt: expect.any(String) });
    await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, { stage: "review", leaseEpoch: 1 });
    await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, { stage: "shipped", leaseEpoch: 1 });
    await sendJson("POST", `${coord.api}/fleet/jobs/J1/lease/release`, { leaseEpoch: 1 });
    await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, { stage: "failed", leaseEpoch: 0 });

    const events = (await getJson(`${coord.api}/fleet/jobs/J1/events`)).body.events;
    expect(events.map((event: any) => [event.type, event.factoryId, event.leaseEpoch, event.stage])).toEqual([
      ["enqueued", null, null, "queued"],
      ["claimed", "factory-a", 1, "assigned"],
      ["stage", "factory-a", 1, "building"],
      ["renewed", "factory-a", 1, null],
      ["stage", "factory-a", 1, "review"],
      ["stage", "factory-a", 1, "shipped"],
      ["released", "factory-a", 1, "shipped"],
      ["fenced", null, 0, "failed"],
    ]);
    expect(JSON.parse(events[2].detail)).toEqual({ wipBranch: "aq/fleet-J1-e1", wipCommit: "c0" });
    const runs = (await getJson(`${coord.api}/fleet/jobs/J1/runs`)).body.runs;
    expect(runs).toEqual([
      {
        id: expect.any(Number),
        factoryId: "factory-a",
        leaseEpoch: 1,
        startedAt: expect.any(String),
        endedAt: expect.any(String),
        outcome: "shipped",
      },
    ]);
    expect((await getJson(`${coord.api}/fleet/jobs/J1`)).body).toMatchObject({
      stage: "shipped",
      factoryId: null,
      leaseEpoch: 1,
    });
    expect((await getJson(`${coord.api}/fleet/jobs/nope/events`)).status).toBe(404);
  });

  it("a restart on the same SQLite file keeps jobs, leases, epochs and events; the holder's report is still accepted", async () => {
    const db = join(tempDir("aq-coord-restart-"), "coordinator.sqlite");
    const first = await coordinator({ db, leaseMs: 60_000 });
    await enqueue(first.api, { id: "J1", bodyMd: "echo hi" });
    await enqueue(first.api, { id: "J2", bodyMd: "echo two" });
    await claim(first.api, "factory-a");
    await sendJson("POST", `${first.api}/fleet/jobs/J1/lease/release`, { leaseEpoch: 1 });
    await claim(first.api, "factory-a");
    expect((await sendJson("PATCH", `${first.api}/fleet/jobs/J1`, { stage: "building", leaseEpoch: 2 })).status).toBe(
      200,
    );
    const job = (await getJson(`${first.api}/fleet/jobs/J1`)).body;
    const events = (await getJson(`${first.api}/fleet/jobs/J1/events`)).body.events;
    const runs = (await getJson(`${first.api}/fleet/jobs/J1/runs`)).body.runs;
    expect(job).toMatchObject({ leaseEpoch: 2, factoryId: "factory-a", stage: "building" });
    await first.close();

    const again = await coordinator({ db, leaseMs: 60_000 });
    expect((await getJson(`${again.api}/fleet/jobs/J1`)).body).toEqual(job);
    expect((await getJson(`${again.api}/fleet/jobs/J1/events`)).body.events).toEqual(events);
    expect((await getJson(`${again.api}/fleet/jobs/J1/runs`)).body.runs).toEqual(runs);
    expect((await sendJson("PATCH", `${again.api}/fleet/jobs/J1`, { stage: "review", leaseEpoch: 1 })).status).toBe(
      409,
    );
    expect((await sendJson("PATCH", `${again.api}/fleet/jobs/J1`, { stage: "review", leaseEpoch: 2 })).status).toBe(
      200,
    );
    // J1 is still leased to factory-a: another factory gets J2, then nothing.
    expect((await claim(again.api, "factory-b")).body).toMatchObject({ job: { id: "J2" }, leaseEpoch: 1 });
    expect((await claim(again.api, "factory-b")).status).toBe(204);
  });

  it("twenty factories claiming five jobs at once: each job goes to exactly one of them, under epoch 1", async () => {
    const coord = await coordinator();
    for (const id of ["J1", "J2", "J3", "J4", "J5"]) await enqueue(coord.api, { id, bodyMd: "echo hi" });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(coord.api, `factory-${i}`)));
    const won = answers.filter((answer) => answer.status === 200);
    expect(answers.filter((answer) => answer.status === 204)).toHaveLength(15);
    expect(won.map((answer) => answer.body.job.id).sort()).toEqual(["J1", "J2", "J3", "J4", "J5"]);
    expect(won.every((answer) => answer.body.leaseEpoch === 1)).toBe(true);
    for (const job of coord.store.jobs()) expect(coord.store.runs(job.id)).toHaveLength(1);
  });

  it("refuses to bind beyond loopback without AQ_COORDINATOR_TOKEN", async () => {
    const refused = await startCoordinator({ port: 0, host: "0.0.0.0", db: ":memory:", leaseMs: 1_000 }).then(
      (running) => running.close().then(() => undefined),
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(AqError);
    expect((refused as AqError).code).toBe("AQ_BAD_USAGE");
    expect((refused as AqError).message).toMatch(/0\.0\.0\.0.*AQ_COORDINATOR_TOKEN/);
  });

  it("with a token, requests without the right bearer get 401 and change nothing", async () => {
    const token = "coord-token-9f2e";
    const running = await startCoordinator({ port: 0, host: "0.0.0.0", db: ":memory:", leaseMs: 60_000, token });
    try {
      const api = `http://127.0.0.1:${portOf(running.url)}/api`;
      expect((await sendJson("POST", `${api}/dev/jobs`, { id: "J1", bodyMd: "echo hi" })).status).toBe(401);
      expect((await sendJson("POST", `${api}/dev/jobs`, { id: "J1", bodyMd: "echo hi" }, "wrong")).status).toBe(401);
      expect(running.store.jobs()).toEqual([]);
      await enqueue(api, { id: "J1", bodyMd: "echo hi" }, token);
      expect(
        (
          await sendJson("POST", `${api}/fleet/factories/heartbeat`, {
            factoryId: "f",
            capabilities: [],
            health: "ok",
            load: 0,
          })
        ).status,
      ).toBe(401);
      expect((await claim(api, "factory-a")).status).toBe(401);
      expect((await getJson(`${api}/fleet/jobs/J1`)).status).toBe(401);
      expect(running.store.job("J1")).toMatchObject({ stage: "queued", leaseEpoch: 0 });
      expect(running.store.factories()).toEqual([]);
      expect((await claim(api, "factory-a", token)).body).toMatchObject({ leaseEpoch: 1 });
    } finally {
      await running.close();
    }
  });

  it("enqueues through the dev-only POST /api/dev/jobs, validating the job and refusing a duplicate id", async () => {
    const coord = await coordinator();
    const created = await sendJson("POST", `${coord.api}/dev/jobs`, {
      id: "J1",
      title: "Fix it",
      bodyMd: "echo hi",
      options: { engine: "shell" },
      requires: ["os:linux"],
      priority: 3,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: "J1",
      title: "Fix it",
      options: { engine: "shell" },
      requires: ["os:linux"],
      priority: 3,
      stage: "queued",
      leaseEpoch: 0,
      factoryId: null,
    });
    expect((await sendJson("POST", `${coord.api}/dev/jobs`, { id: "J1", bodyMd: "again" })).status).toBe(409);
    expect((await sendJson("POST", `${coord.api}/dev/jobs`, { id: "J2", bodyMd: "" })).status).toBe(400);
    expect((await sendJson("POST", `${coord.api}/dev/jobs`, { id: "../etc", bodyMd: "x" })).status).toBe(400);
    const generated = await sendJson("POST", `${coord.api}/dev/jobs`, { bodyMd: "echo generated" });
    expect(generated.status).toBe(201);
    expect(generated.body.id).toMatch(/^fj-/);
    expect((await getJson(`${coord.api}/dev/jobs`)).body.jobs.map((job: any) => job.id)).toEqual([
      "J1",
      generated.body.id,
    ]);
    expect(coord.store.job("J1")?.bodyMd).toBe("echo hi");
  });

  it("never returns bodyMd from the read-only views; only a claim carries the prompt", async () => {
    const coord = await coordinator();
    await enqueue(coord.api, { id: "J1", bodyMd: `echo ${SECRET_PROMPT}` });
    const claimed = await claim(coord.api, "factory-a");
    expect(claimed.body.job.bodyMd).toBe(`echo ${SECRET_PROMPT}`);
    await sendJson("PATCH", `${coord.api}/fleet/jobs/J1`, { stage: "building", leaseEpoch: 1 });
    for (const path of [
      "/fleet/jobs/J1",
      "/fleet/jobs/J1/runs",
      "/fleet/jobs/J1/events",
      "/dev/jobs",
      "/dev/events",
      "/fleet/factories",
    ]) {
      const view = await getJson(`${coord.api}${path}`);
      expect(view.status, path).toBe(200);
      expect(view.text, path).not.toContain(SECRET_PROMPT);
      expect(view.text, path).not.toContain("bodyMd");
    }
    expect(Object.keys((await getJson(`${coord.api}/fleet/jobs/J1`)).body)).not.toContain("bodyMd");
  });

  describe("aq coordinator (CLI)", () => {
    beforeAll(() => requireBuild());

    it("prints its API URL first, serves the contract, and stops cleanly on SIGTERM", async () => {
      const dir = tempDir("aq-coord-cli-");
      const child = startAq(["coordinator", "--port", "0", "--db", join(dir, "c.sqlite"), "--lease", "1m"], {
        cwd: dir,
        env: { XDG_STATE_HOME: join(dir, "state") },
        timeoutMs: 20_000,
      });
      const api = await printedApiUrl(child);
      const token = readFileSync(join(dir, "state", "aq", `coordinator-${portOf(api)}.token`), "utf8").trim();
      await enqueue(api, { id: "J1", bodyMd: "echo hi" }, token);
      expect((await claim(api, "factory-a", token)).body).toMatchObject({ leaseEpoch: 1 });
      child.kill("SIGTERM");
      const result = await child.exited;
      expect(result.code).toBe(0);
      // The state is in the file: a new coordinator on it knows the lease.
      const again = await coordinator({ db: join(dir, "c.sqlite") });
      expect(again.store.job("J1")).toMatchObject({ leaseEpoch: 1, factoryId: "factory-a" });
    });

    it("refuses --host beyond loopback without AQ_COORDINATOR_TOKEN: one line, exit 2, nothing served", async () => {
      const dir = tempDir("aq-coord-cli-");
      const result = await aq(["coordinator", "--host", "0.0.0.0", "--port", "0", "--db", ":memory:"], {
        cwd: dir,
        timeoutMs: 10_000,
      });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(expectOneLine(result.stderr)).toMatch(/AQ_COORDINATOR_TOKEN/);
    });
  });
});
