import { describe, expect, it } from "vitest";
import { aq, waitFor, writeTestConfig } from "../helpers/cli.ts";
import { startDashboard } from "../helpers/dashboard.ts";
import { deadPort } from "../helpers/fleet-cli.ts";
import { coordinator, devJob, localId, sendJson, TOKEN } from "../helpers/fleet-world.ts";
import { stageOf } from "../helpers/jobs.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { join } from "node:path";

/** With fleet on, the dashboard shows the fleet panel: factory, coordinator reachability, health, leases. */

requireBuild();

describe("aq dashboard: the fleet panel", () => {
  it("shows the factory, a reachable coordinator, health ok and the lease a claimed job holds with its epoch", async () => {
    const coord = await coordinator({ token: TOKEN });
    expect((await sendJson("POST", `${coord.api}/dev/jobs`, devJob("J1", "true"), TOKEN)).status).toBe(201);
    const dir = tempDir("aq-dash-fleet-");
    writeTestConfig(dir, { plugins: [["tracker-echo", false]] });
    const env = { AQ_FLEET: "1", AQ_FLEET_API: coord.api, AQ_FLEET_TOKEN: TOKEN, AQ_FACTORY_ID: "factory-a" };
    const ran = await aq(["run", "--once"], { cwd: dir, env });
    expect(ran.code, ran.stderr).toBe(0);
    expect(stageOf(join(dir, "queue"), localId("J1", 1))).toBe("review");
    const before = coord.stats();

    const dashboard = await startDashboard(dir, { env });
    const summary = (await dashboard.get("/api/summary")).body;

    expect(summary.panels.fleet).toEqual({
      title: "Fleet",
      facts: [
        { label: "factory", value: "factory-a" },
        { label: "coordinator", value: coord.api },
        { label: "reachable", value: "yes", tone: "ok" },
        { label: "health", value: "ok", tone: "ok" },
        { label: "leases held", value: "1" },
      ],
      tables: [
        {
          columns: [
            { label: "job", kind: "job" },
            { label: "fleet job" },
            { label: "stage", kind: "stage" },
            { label: "epoch" },
            { label: "lease expires", kind: "time" },
            { label: "reports waiting" },
          ],
          rows: [[localId("J1", 1), "J1", "review", 1, expect.any(String), 0]],
        },
      ],
    });
    const row = (await dashboard.get("/api/jobs")).body.jobs[0];
    expect(row).toMatchObject({
      id: localId("J1", 1),
      origin: { kind: "fleet" },
      fleet: { jobId: "J1", leaseEpoch: 1 },
      columns: { epoch: "1" },
      badges: ["fleet J1"],
    });
    // The job's detail carries the same columns and badges; searching finds a job by its badge.
    const detail = (await dashboard.get(`/api/jobs/${localId("J1", 1)}`)).body;
    expect(detail).toMatchObject({ columns: { epoch: "1" }, badges: ["fleet J1"] });
    expect((await dashboard.get("/api/jobs?q=fleet%20j1")).body.total).toBe(1);
    // The dashboard only probes: no heartbeat, claim or report (it is not a factory).
    const after = coord.stats();
    const calls = Object.keys(after).filter((route) => after[route] !== before[route]);
    expect(calls).toEqual(["GET /api/fleet/factories"]);
  });

  it("says the coordinator is not reachable, with the problem, when nothing answers", async () => {
    const dir = tempDir("aq-dash-fleet-");
    writeTestConfig(dir, { plugins: [["tracker-echo", false]] });
    const api = `http://127.0.0.1:${await deadPort()}/api`;
    const dashboard = await startDashboard(dir, { env: { AQ_FLEET: "1", AQ_FLEET_API: api, AQ_FLEET_TOKEN: TOKEN } });

    const fleet = await waitFor(
      async () => {
        const panel = (await dashboard.get("/api/summary")).body.panels.fleet;
        return panel.facts.some((f: { label: string; tone?: string }) => f.label === "reachable" && f.tone === "bad")
          ? panel
          : undefined;
      },
      15_000,
      "the probe's answer",
    );

    const fact = (label: string) => fleet.facts.find((f: { label: string }) => f.label === label);
    expect(fact("coordinator").value).toBe(api);
    expect(fact("reachable")).toEqual({
      label: "reachable",
      value: expect.stringMatching(/^no \(coordinator unreachable for GET fleet\/factories: ECONNREFUSED/),
      tone: "bad",
    });
    expect(fact("leases held").value).toBe("0");
    expect(fleet.tables).toEqual([]);
    // Without AQ_FACTORY_ID the factory is this queue on this host: the id `aq run` and `aq status` use too.
    expect(fact("factory").value).toMatch(/^.+-[0-9a-f]{6}$/);
  });
});
