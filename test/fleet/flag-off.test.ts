import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { aq, writeTestConfig } from "../helpers/cli.ts";
import { countingServer, loadedModules, spyEnv } from "../helpers/fleet-cli.ts";
import { git, gitRepo } from "../helpers/git.ts";
import { metaOf, pathOf, stageOf } from "../helpers/jobs.ts";
import { enqueue } from "../helpers/runner-e2e.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";

/**
 * docs/design.md ("Plugins and hooks")/§6 and the brief's "flag off" case: with the fleet switch off, `aq run --drain`
 * makes no request at all to the coordinator, the fleet plugin's module is never imported, and
 * the offline flow is the one it always was.
 */

const FLEET_MODULE = /\/plugins\/fleet\//;

async function offlineWorld(config: Record<string, unknown> = {}) {
  const dir = tempDir("aq-fleet-off-");
  const repo = gitRepo(join(dir, "repo"));
  writeTestConfig(dir, config);
  const queue = join(dir, "queue");
  await enqueue(queue, [
    { id: "plain", body: "echo plain > /dev/null" },
    { id: "in-git", frontmatter: { cwd: repo }, body: "echo changed > changed.txt" },
  ]);
  return { dir, repo, queue };
}

function fleetEnv(
  api: string,
  extra: Record<string, string | undefined>,
  spyLog: string,
): Record<string, string | undefined> {
  return {
    AQ_FLEET_API: api,
    AQ_FLEET_TOKEN: "tok-off-sentinel",
    AQ_PRODUCT_ID: "prod-off",
    AQ_FACTORY_ID: "factory-off",
    AQ_FLEET_LEASE_RENEW_SEC: "0.1",
    ...spyEnv(spyLog),
    ...extra,
  };
}

function expectOfflineFlow(world: { repo: string; queue: string }) {
  for (const id of ["plain", "in-git"]) {
    expect(stageOf(world.queue, id)).toBe("review");
    const meta = metaOf(world.queue, id);
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "review"]);
    expect(meta.origin).toEqual({ kind: "local" });
    expect(meta).not.toHaveProperty("fleet");
    expect(meta).not.toHaveProperty("fleetState");
    expect(meta).not.toHaveProperty("fleetOutbox");
  }
  const wip = metaOf(world.queue, "in-git").wip!;
  expect(wip.branch).toBe("aq/in-git");
  expect(git(world.repo, "show", `${wip.commit}:changed.txt`)).toBe("changed");
  // No fleet trailers on the offline commit.
  expect(git(world.repo, "log", "-1", "--format=%B", wip.commit)).not.toMatch(/Aq-Lease-Epoch|Aq-Factory/);
}

describe("fleet switch off", () => {
  beforeAll(() => requireBuild());

  it.each([
    ["AQ_FLEET unset", {}, {}],
    ["AQ_FLEET=0", { AQ_FLEET: "0" }, {}],
    [
      "AQ_FLEET=0 while the config enables fleet (a set AQ_FLEET wins)",
      { AQ_FLEET: "0" },
      { plugins: [["fleet", { enabled: true }]] },
    ],
  ])(
    "with %s, aq run --drain makes zero requests to the coordinator, never imports the fleet plugin, and runs local jobs to review",
    async (_what, extra, config) => {
      const server = await countingServer();
      const world = await offlineWorld(config);
      const spyLog = join(world.dir, "modules.txt");
      const result = await aq(["run", "--drain"], { cwd: world.dir, env: fleetEnv(server.api, extra, spyLog) });
      expect(result.code, result.stderr).toBe(0);
      expect(server.connections).toBe(0);
      expect(server.requests).toEqual([]);
      const modules = loadedModules(spyLog);
      // The spy saw the run (so its silence about the fleet plugin means something).
      expect(modules.some((url) => url.endsWith("/dist/src/core/runner.js"))).toBe(true);
      expect(modules.filter((url) => FLEET_MODULE.test(url))).toEqual([]);
      expect(result.stderr).not.toMatch(/fleet|factory|coordinator/i);
      expectOfflineFlow(world);

      const status = await aq(["status", "--json"], {
        cwd: world.dir,
        env: fleetEnv(server.api, extra, join(world.dir, "status-modules.txt")),
      });
      expect(status.code, status.stderr).toBe(0);
      const report = JSON.parse(status.stdout);
      expect(report).not.toHaveProperty("factoryId");
      expect(report.counts.review).toBe(2);
      for (const job of report.jobs) expect(job).not.toHaveProperty("fleet");
      expect(loadedModules(join(world.dir, "status-modules.txt")).filter((url) => FLEET_MODULE.test(url))).toEqual([]);
      expect(server.connections).toBe(0);
    },
  );

  it("control: with AQ_FLEET=1 the same setup imports the fleet plugin and talks to the coordinator (so the zero above is real)", async () => {
    const server = await countingServer();
    const world = await offlineWorld();
    const spyLog = join(world.dir, "modules.txt");
    const result = await aq(["run", "--drain"], {
      cwd: world.dir,
      env: fleetEnv(server.api, { AQ_FLEET: "1" }, spyLog),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(loadedModules(spyLog).some((url) => url.endsWith("/dist/plugins/fleet/index.js"))).toBe(true);
    expect(server.connections).toBeGreaterThan(0);
    expect(server.requests).toContain("POST /api/fleet/factories/heartbeat");
    expect(server.requests).toContain("POST /api/fleet/claim");
    // Local jobs still run first and reach review, exactly as offline.
    for (const id of ["plain", "in-git"]) expect(stageOf(world.queue, id)).toBe("review");
    const status = await aq(["status", "--json"], {
      cwd: world.dir,
      env: fleetEnv(server.api, { AQ_FLEET: "1" }, join(world.dir, "s.txt")),
    });
    expect(JSON.parse(status.stdout).factoryId).toBe("factory-off");
  });

  it.each([
    ["AQ_FLEET=2", { AQ_FLEET: "2" }, /AQ_FLEET must be 0 or 1/],
    ["AQ_FLEET_LEASE_RENEW_SEC=soon", { AQ_FLEET: "1", AQ_FLEET_LEASE_RENEW_SEC: "soon" }, /AQ_FLEET_LEASE_RENEW_SEC/],
    [
      "AQ_FLEET_LEASE_RENEW_SEC past Node's longest timer",
      { AQ_FLEET: "1", AQ_FLEET_LEASE_RENEW_SEC: "3000000" },
      /AQ_FLEET_LEASE_RENEW_SEC .*at most 86400/,
    ],
    ["AQ_FLEET_API that is not a URL", { AQ_FLEET: "1", AQ_FLEET_API: "localhost 4003/api" }, /AQ_FLEET_API/],
  ])(
    "a bad fleet setting (%s) stops aq run before any work: one line, exit 2, no request",
    async (_what, extra, problem) => {
      const server = await countingServer();
      const world = await offlineWorld();
      const result = await aq(["run", "--drain"], { cwd: world.dir, env: { AQ_FLEET_API: server.api, ...extra } });
      expect(result.code).toBe(2);
      const lines = result.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(problem);
      expect(stageOf(world.queue, "plain")).toBe("queued");
      expect(server.connections).toBe(0);
    },
  );

  it("fleet options the plugin's schema rejects stop the command with one line naming the file, the plugin and the key, exit 2", async () => {
    const world = await offlineWorld({ plugins: [["fleet", { enabled: true, leaseRenewSecs: 5 }]] });
    const result = await aq(["run", "--drain"], { cwd: world.dir });
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(join(world.dir, "aq.config.json"));
    expect(lines[0]).toMatch(/fleet/);
    expect(lines[0]).toMatch(/leaseRenewSecs/);
    expect(stageOf(world.queue, "plain")).toBe("queued");
  });
});
