import { platform } from "node:os";
import { beforeAll, describe, expect, it } from "vitest";
import { aq, writeTestConfig } from "../helpers/cli.ts";
import { deadPort } from "../helpers/fleet-cli.ts";
import { coordinator, devJob, localId, PRODUCT, recordingProxy, TOKEN } from "../helpers/fleet-world.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * docs/design.md ("Command line")/§6: `aq fleet-status` (one heartbeat, then what this factory is and holds),
 * `aq status` with fleet on (factoryId, each fleet job's epoch), and AQ_FLEET_CAPS.
 */

const ID = localId("J1", 1);

async function fleetProject(extraEnv: Record<string, string> = {}) {
  const coord = await coordinator({ token: TOKEN });
  coord.store.enqueue(devJob("J1", "true"));
  coord.store.enqueue({ ...devJob("J2", "true"), requires: ["gpu:a100"] });
  const proxy = await recordingProxy(coord.api);
  const dir = tempDir("aq-fleet-status-");
  writeTestConfig(dir);
  const env = {
    AQ_FLEET: "1",
    AQ_FLEET_API: proxy.api,
    AQ_FLEET_TOKEN: TOKEN,
    AQ_PRODUCT_ID: PRODUCT,
    AQ_FACTORY_ID: "factory-f",
    AQ_FLEET_LEASE_RENEW_SEC: "0.2",
    ...extraEnv,
  };
  const run = (args: string[], more: Record<string, string> = {}) => aq(args, { cwd: dir, env: { ...env, ...more } });
  return { coord, proxy, dir, env, run };
}

describe("fleet status", () => {
  beforeAll(() => requireBuild());

  it("aq fleet-status prints the factory id, capabilities, reachability, claimable count and the fleet jobs held here with their epochs", async () => {
    const p = await fleetProject();
    const drained = await p.run(["run", "--drain"]);
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout).toBe(`${ID}\treview\n`);
    const before = p.proxy.requests.length;

    const status = await p.run(["fleet-status"]);
    expect(status.code, status.stderr).toBe(0);
    const lines = status.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("factory      factory-f");
    expect(lines[1]).toBe(`coordinator  ${p.proxy.api}: reachable`);
    expect(lines[2]).toMatch(new RegExp(`^capabilities os:${platform()}, arch:\\w+, engine:shell, .*tool:git`));
    // J1 is leased here; J2 needs a capability this factory lacks.
    expect(lines[3]).toBe("claimable    0");
    expect(lines[4]).toBe("fleet jobs   ");
    expect(lines[5]).toBe(`  ${ID}  review  fleet J1  epoch 1`);
    expect(lines).toHaveLength(6);
    // Exactly one heartbeat went out for it, with this factory's identity.
    const sent = p.proxy.requests.slice(before);
    expect(sent.filter((request) => request.path === "/api/fleet/factories/heartbeat")).toHaveLength(1);
    expect(sent[0]!.json).toMatchObject({ factoryId: "factory-f", health: "ok" });
    expect(p.coord.store.factories().map((factory) => factory.id)).toEqual(["factory-f"]);

    const json = await p.run(["fleet-status", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      factoryId: "factory-f",
      api: p.proxy.api,
      capabilities: expect.arrayContaining([`os:${platform()}`, "engine:shell"]),
      reachable: true,
      claimable: 0,
      jobs: [{ id: ID, stage: "review", fleetJobId: "J1", leaseEpoch: 1, waitingReports: 0 }],
    });
  });

  it("aq status (with fleet on) shows the factoryId and each fleet job's leaseEpoch; --json per docs/design.md (Command line)", async () => {
    const p = await fleetProject();
    expect((await p.run(["run", "--drain"])).code).toBe(0);
    const before = p.proxy.requests.length;
    const json = await p.run(["status", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.factoryId).toBe("factory-f");
    expect(report.counts.review).toBe(1);
    expect(report.jobs).toEqual([
      expect.objectContaining({
        id: ID,
        stage: "review",
        origin: { kind: "fleet", jobId: "J1" },
        fleet: { jobId: "J1", leaseEpoch: 1 },
      }),
    ]);
    const human = await p.run(["status"]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout.split("\n")[0]).toBe("factory factory-f");
    expect(human.stdout).toMatch(new RegExp(`^${ID}\\s+review\\s+0\\s+1\\s+\\S+\\s+1\\s*$`, "m"));
    // status reads the queue only: not one request to the coordinator.
    expect(p.proxy.requests.slice(before)).toEqual([]);
  });

  it("AQ_FLEET_CAPS overrides detection: in the heartbeat, the claim and fleet-status, and decides what is claimable", async () => {
    const p = await fleetProject({ AQ_FLEET_CAPS: "os:linux, engine:shell ,gpu:a100" });
    const status = await p.run(["fleet-status", "--json"]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      capabilities: ["os:linux", "engine:shell", "gpu:a100"],
      claimable: 2,
    });
    expect(p.coord.store.factories()[0]!.capabilities).toEqual(["os:linux", "engine:shell", "gpu:a100"]);
    const drained = await p.run(["run", "--drain"]);
    expect(drained.code, drained.stderr).toBe(0);
    expect(drained.stdout.split("\n").filter(Boolean).sort()).toEqual([`${ID}\treview`, `${localId("J2", 1)}\treview`]);
    for (const request of p.proxy.requests.filter(
      (r) => r.path === "/api/fleet/claim" || r.path === "/api/fleet/factories/heartbeat",
    )) {
      expect(request.json.capabilities).toEqual(["os:linux", "engine:shell", "gpu:a100"]);
    }
  });

  it("aq fleet-status with the coordinator unreachable says so and exits 1", async () => {
    const port = await deadPort();
    const dir = tempDir("aq-fleet-status-");
    writeTestConfig(dir);
    const api = `http://127.0.0.1:${port}/api`;
    const result = await aq(["fleet-status"], {
      cwd: dir,
      env: { AQ_FLEET: "1", AQ_FLEET_API: api, AQ_FACTORY_ID: "factory-f", AQ_FLEET_CAPS: "os:linux" },
    });
    expect(result.code).toBe(1);
    expect(result.stdout.split("\n").slice(0, 5)).toEqual([
      "factory      factory-f",
      `coordinator  ${api}: NOT reachable (coordinator unreachable for POST fleet/factories/heartbeat: ECONNREFUSED)`,
      "capabilities os:linux",
      "fleet jobs   none",
      "",
    ]);
  });

  it("aq fleet-status with the fleet switch off is an unknown command (exit 2), and nothing is sent", async () => {
    const p = await fleetProject();
    const result = await p.run(["fleet-status"], { AQ_FLEET: "0" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command "fleet-status"/);
    expect(p.proxy.requests).toEqual([]);
  });
});
