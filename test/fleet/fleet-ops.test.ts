import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { beforeAll, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { parseArgs, type ArgsDef } from "citty";
import { fleetCommand } from "../../plugins/fleet/admin-commands.ts";
import { fleetSettings } from "../../plugins/fleet/settings.ts";
import { SHADOW_TIMEOUT_MS } from "../../plugins/fleet/shadow.ts";
import { AqError } from "../../src/core/errors.ts";
import { useDispatcher } from "../../plugins/shared/http.ts";
import { aq as cli, waitFor, writeTestConfig } from "../helpers/cli.ts";
import { deadPort, loadedModules, spyEnv } from "../helpers/fleet-cli.ts";
import { kindOf } from "../helpers/fleet-mock.ts";
import { coordinator, devJob, fleetAq, localId, recordingProxy, sendJson, TOKEN } from "../helpers/fleet-world.ts";
import { metaOf, stageOf } from "../helpers/jobs.ts";
import { requireBuild } from "../helpers/store-cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { parseJob } from "../../src/core/job-file.ts";

/**
 * Operating a fleet against the real coordinator over loopback HTTP: `aq fleet add/jobs/job/
 * factories/cancel` with the admin token, routing by `requires` made visible, and shadow mode
 * (AQ_FLEET=shadow): the local queue runs as with the fleet off while the coordinator watches.
 */

const ADMIN = "admin-TOKEN-sentinel-77c1";

beforeEach(() => useDispatcher(undefined));

/** `aq fleet ...` (and any other command) of the compiled CLI in `dir`, as an operator with the admin token. */
function operator(dir: string, api: string, env: Record<string, string | undefined> = {}) {
  return (args: string[], more: Record<string, string | undefined> = {}, input?: string) =>
    cli(args, {
      cwd: dir,
      env: { AQ_FLEET: "1", AQ_FLEET_API: api, AQ_COORDINATOR_TOKEN: ADMIN, ...env, ...more },
      ...(input === undefined ? {} : { input }),
    });
}

/**
 * The same `aq fleet ...` in this process (the command as the plugin registers it, parsed as the
 * CLI parses plugin commands), for the many calls whose process start would only cost time.
 */
function inProcess(api: string, env: Record<string, string | undefined> = {}) {
  return async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const fullEnv = { AQ_FLEET_API: api, AQ_COORDINATOR_TOKEN: ADMIN, ...env };
    const command = fleetCommand(fleetSettings(fullEnv, {}), fullEnv);
    let stdout = "";
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => ((stdout += chunk), true)) as typeof process.stdout.write;
    try {
      const code = (await command.run(parseArgs(args, command.args as ArgsDef))) ?? 0;
      return { code, stdout, stderr: "" };
    } catch (error) {
      if (!(error instanceof AqError)) throw error;
      return {
        code: error.exitCode,
        stdout,
        stderr: `${error.message.startsWith("aq ") ? "" : "aq: "}${error.message}\n`,
      };
    } finally {
      process.stdout.write = write;
    }
  };
}

function jobFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("aq fleet: the operator's commands", { timeout: 60_000 }, () => {
  beforeAll(() => requireBuild());

  it("add enqueues a job file through the authenticated route with the admin token; a wrong or missing token is refused and adds nothing", async () => {
    const coord = await coordinator({ token: ADMIN });
    const dir = tempDir("aq-fleet-ops-");
    writeTestConfig(dir);
    const run = operator(dir, coord.api);
    const file = jobFile(dir, "fix-login.md", "---\nengine: shell\ntimeout: 10m\npriority: 3\n---\necho fixed\n");

    // Four processes at once: they do not depend on one another.
    const [added, status, piped, wrongToken] = await Promise.all([
      run(
        ["fleet", "add", file, "--requires", "engine:codex, tool:git", "--priority", "7"],
        spyEnv(join(dir, "add-modules.txt")),
      ),
      run(["status"], spyEnv(join(dir, "status-modules.txt"))),
      run(
        ["fleet", "add", "-", "--json"],
        { AQ_COORDINATOR_TOKEN: undefined, AQ_FLEET_TOKEN: ADMIN },
        "---\npriority: 3\n---\necho piped\n",
      ),
      run(["fleet", "add", file], { AQ_COORDINATOR_TOKEN: "wrong-token" }),
    ]);
    expect(added.code, added.stderr).toBe(0);
    // The commands' client is imported when one runs, and only then.
    expect(status.code, status.stderr).toBe(0);
    const admin = (log: string) =>
      loadedModules(join(dir, log)).filter((url) => /\/plugins\/fleet\/admin-(client|actions)\.js$/.test(url));
    expect(admin("add-modules.txt")).toHaveLength(2);
    expect(admin("status-modules.txt")).toEqual([]);
    const id = added.stdout.trim();
    expect(id).toMatch(/^fix-login-\d{14}-[0-9a-f]{4}$/);
    expect(coord.store.job(id)).toMatchObject({
      title: "fix-login",
      bodyMd: "echo fixed\n",
      options: { engine: "shell", timeout: "10m", priority: 3 },
      requires: ["engine:codex", "tool:git"],
      priority: 7,
      stage: "queued",
    });

    // From stdin, the file's own priority; the factory's token is the fallback for the admin one.
    expect(piped.code, piped.stderr).toBe(0);
    expect(JSON.parse(piped.stdout)).toMatchObject({ priority: 3, requires: [], stage: "queued" });
    expect(JSON.parse(piped.stdout)).not.toHaveProperty("bodyMd");

    const fast = inProcess(coord.api, { AQ_COORDINATOR_TOKEN: undefined });
    for (const refused of [wrongToken, await fast(["add", file])]) {
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^aq: coordinator refused POST .*\/fleet\/jobs \(401\).*AQ_COORDINATOR_TOKEN/);
      expect(refused.stderr.split("\n").filter(Boolean)).toHaveLength(1);
      expect(refused.stderr).not.toContain(ADMIN);
    }
    // The route itself, without the token, and with the right one.
    expect((await sendJson("POST", `${coord.api}/fleet/jobs`, { text: "echo hi" })).status).toBe(401);
    expect((await sendJson("POST", `${coord.api}/fleet/jobs`, { text: "echo hi" }, "nope")).status).toBe(401);
    // An enrolled factory's own token acts for its factory only: it may not enqueue.
    const enrolled = await sendJson("POST", `${coord.api}/admin/factories`, { factoryId: "factory-x" }, ADMIN);
    expect(enrolled.status, enrolled.text).toBe(201);
    expect((await sendJson("POST", `${coord.api}/fleet/jobs`, { text: "echo hi" }, enrolled.body.token)).status).toBe(
      403,
    );
    expect((await sendJson("POST", `${coord.api}/fleet/jobs/D1/cancel`, {}, enrolled.body.token)).status).toBe(403);
    const direct = await sendJson(
      "POST",
      `${coord.api}/fleet/jobs`,
      { id: "D1", text: "echo hi", requires: ["os:linux"] },
      ADMIN,
    );
    expect(direct.status, direct.text).toBe(201);
    expect(
      coord.store
        .jobs()
        .map((job) => job.id)
        .sort(),
    ).toEqual([id, JSON.parse(piped.stdout).id, "D1"].sort());
    // Nothing here started a factory: no heartbeat, no claim.
    expect(coord.store.factories()).toEqual([]);
  });

  it("add validates the job file exactly as aq add does: the same one line, exit 2, nothing sent; the route checks it again", async () => {
    const coord = await coordinator({ token: ADMIN });
    const dir = tempDir("aq-fleet-ops-");
    writeTestConfig(dir);
    const run = operator(dir, coord.api);
    const fast = inProcess(coord.api);
    const bad = [
      ["bad-yaml.md", "---\nengine: [shell\n---\necho\n"],
      ["bad-timeout.md", "---\ntimeout: soon\n---\necho\n"],
      ["no-prompt.md", "---\nengine: shell\n---\n\n"],
      ["no-close.md", "---\nengine: shell\necho\n"],
    ];
    const first = jobFile(dir, bad[0]![0]!, bad[0]![1]!);
    const [local, fleet] = await Promise.all([run(["add", first]), run(["fleet", "add", first])]);
    expect([local.code, fleet.code]).toEqual([2, 2]);
    expect(fleet.stderr).toBe(local.stderr);
    for (const [name, text] of bad) {
      const file = jobFile(dir, name!, text!);
      let expected = "";
      try {
        parseJob(text!, file);
      } catch (error) {
        expected = `aq: ${(error as Error).message}\n`;
      }
      expect(expected).not.toBe("");
      expect(await fast(["add", file])).toEqual({ code: 2, stdout: "", stderr: expected });
      const route = await sendJson("POST", `${coord.api}/fleet/jobs`, { text }, ADMIN);
      expect(route.status).toBe(400);
      expect(route.body.error).toBe(expected.trim().replace(`aq: ${file}: `, "job: "));
    }
    expect(coord.store.jobs()).toEqual([]);
    expect(await fast(["add", join(dir, "nope.md")])).toMatchObject({
      code: 2,
      stderr: `aq: ${join(dir, "nope.md")}: no such file\n`,
    });
    expect(await fast(["add", jobFile(dir, "ok.md", "echo ok\n"), "--priority", "high"])).toMatchObject({
      code: 2,
      stderr: 'aq fleet add: --priority must be an integer, not "high"\n',
    });
    expect(await fast(["add", join(dir, "ok.md"), "--requires", "engine:codex,has space"])).toMatchObject({ code: 2 });
    expect((await fast(["frobnicate"])).stderr).toMatch(/^aq fleet: unknown action "frobnicate"/);
    expect(await fast(["job"])).toMatchObject({ code: 2, stderr: "aq fleet job: name the job (aq fleet job ID)\n" });
    expect(coord.store.jobs()).toEqual([]);
  });

  it("a job that requires engine:codex is claimed only by a factory that has it, and shown as waiting (aq fleet jobs, the heartbeat's answer) while none has it", async () => {
    const coord = await coordinator({ token: TOKEN });
    const proxy = await recordingProxy(coord.api);
    const opsDir = tempDir("aq-fleet-ops-");
    writeTestConfig(opsDir);
    const run = operator(opsDir, coord.api, { AQ_COORDINATOR_TOKEN: TOKEN });
    coord.store.enqueue({ ...devJob("CODEX", "true"), requires: ["engine:codex"] });
    coord.store.enqueue(devJob("PLAIN", "true"));

    const a = await fleetAq(tempDir("aq-fleet-a-"), {
      AQ_FLEET_API: proxy.api,
      AQ_FLEET_CAPS: "os:linux,engine:shell",
    });
    await a.drain();
    expect(stageOf(a.queue, localId("PLAIN", 1))).toBe("review");
    expect(existsSync(join(a.queue, "queued"))).toBe(true);
    expect(coord.store.job("CODEX")).toMatchObject({ stage: "queued", leaseEpoch: 0, factoryId: null });
    // Its heartbeats' answers told it, and it said so once, not at every beat.
    expect(proxy.of("heartbeat").length).toBeGreaterThan(1);
    expect(a.lines().filter((line) => line.includes("wait for capabilities"))).toEqual([
      "fleet: 1 queued job(s) wait for capabilities no live factory has: engine:codex",
    ]);

    const listed = await run(["fleet", "jobs"]);
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+STAGE\s+EPOCH\s+HOLDER\s+PRIO\s+REQUIRES\s+NOTE$/);
    expect(lines.find((line) => line.startsWith("CODEX"))).toMatch(
      /^CODEX\s+queued\s+0\s+-\s+0\s+engine:codex\s+waiting: no live factory has engine:codex$/,
    );
    expect(lines.find((line) => line.startsWith("PLAIN"))).toMatch(/^PLAIN\s+review\s+1\s+factory-a\s+0\s+-$/);
    expect(lines.at(-1)).toBe("1 queued job(s) wait for capabilities no live factory has: engine:codex");
    const fast = inProcess(coord.api, { AQ_COORDINATOR_TOKEN: TOKEN });
    const queued = JSON.parse((await fast(["jobs", "--stage", "queued", "--json"])).stdout);
    expect(queued.jobs.map((job: { id: string }) => job.id)).toEqual(["CODEX"]);
    expect(queued.jobs[0]).toMatchObject({ requires: ["engine:codex"], waiting: "no live factory has engine:codex" });
    expect(queued.waiting).toEqual([{ requires: ["engine:codex"], jobs: 1, missing: ["engine:codex"] }]);
    const one = await fast(["job", "CODEX"]);
    expect(one.stdout).toContain("stage     queued  (waiting: no live factory has engine:codex)\n");
    expect(one.stdout).toContain("requires  engine:codex\n");

    const b = await fleetAq(tempDir("aq-fleet-b-"), {
      AQ_FLEET_API: proxy.api,
      AQ_FACTORY_ID: "factory-b",
      AQ_FLEET_CAPS: "os:linux,engine:shell,engine:codex",
    });
    await b.drain();
    expect(stageOf(b.queue, localId("CODEX", 1))).toBe("review");
    expect(coord.store.job("CODEX")).toMatchObject({ stage: "review", leaseEpoch: 1, factoryId: "factory-b" });
    expect(coord.store.runs("CODEX").map((r) => r.factoryId)).toEqual(["factory-b"]);
    const after = JSON.parse((await fast(["jobs", "--json"])).stdout);
    expect(after.waiting).toEqual([]);
    expect(after.jobs.every((job: { waiting?: string }) => job.waiting === undefined)).toBe(true);

    const factories = JSON.parse((await fast(["factories", "--json"])).stdout).factories;
    expect(factories.map((f: any) => [f.id, f.mode, f.live, f.leases])).toEqual([
      ["factory-a", "fleet", true, ["PLAIN"]],
      ["factory-b", "fleet", true, ["CODEX"]],
    ]);
    const table = (await fast(["factories"])).stdout.split("\n");
    expect(table[0]).toMatch(/^FACTORY\s+MODE\s+HEALTH\s+LOAD\s+LAST SEEN\s+LEASES\s+CAPABILITIES$/);
    expect(table[2]).toMatch(
      /^factory-b\s+fleet\s+draining\s+0\.00\s+\S+Z\s+CODEX\s+os:linux,engine:shell,engine:codex$/,
    );
  });

  it("aq fleet cancel fences the holder at its next renew: its engine's process group is killed, nothing shipped, the job rests cancelled", async () => {
    const coord = await coordinator({ token: TOKEN });
    const dir = tempDir("aq-fleet-cancel-");
    const pgidFile = join(dir, "engine.pgid");
    coord.store.enqueue(devJob("LONG", `echo $$ > "${pgidFile}"; sleep 60; touch "${join(dir, "finished")}"`));
    const f = await fleetAq(dir, { AQ_FLEET_API: coord.api, AQ_FLEET_LEASE_RENEW_SEC: "0.2" });
    const drained = f.drain();
    const pgid = Number(
      await waitFor(() => existsSync(pgidFile) && readFileSync(pgidFile, "utf8").trim(), 20_000, "the engine to start"),
    );
    expect(groupAlive(pgid)).toBe(true);

    const ops = tempDir("aq-fleet-ops-");
    writeTestConfig(ops);
    const cancelled = await operator(ops, coord.api, { AQ_COORDINATOR_TOKEN: TOKEN })(["fleet", "cancel", "LONG"]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toBe("cancelled LONG: factory-a is fenced at its next call (lease epoch now 2)\n");

    await drained;
    const id = localId("LONG", 1);
    expect(stageOf(f.queue, id)).toBe("failed");
    expect(metaOf(f.queue, id).reason).toBe("fenced");
    await waitFor(() => !groupAlive(pgid), 5_000, "the engine's process group to be gone");
    expect(existsSync(join(dir, "finished"))).toBe(false);
    expect(coord.store.job("LONG")).toMatchObject({ stage: "cancelled", leaseEpoch: 2, factoryId: null });
    const types = coord.store.events("LONG").map((event) => event.type);
    // A heartbeat may renew the claimed job's lease before its building report lands (seen under load): that is
    // the lease of a held job kept, not a step of the job.
    expect(types.filter((type) => type !== "renewed").slice(0, 3)).toEqual(["enqueued", "claimed", "stage"]);
    expect(types).toContain("cancelled");
    expect(types.slice(types.indexOf("cancelled") + 1).every((type) => type === "fenced")).toBe(true);
    expect(types.filter((type) => type === "fenced").length).toBeGreaterThanOrEqual(1);
    expect(coord.store.runs("LONG")).toEqual([
      expect.objectContaining({
        factoryId: "factory-a",
        leaseEpoch: 1,
        outcome: "cancelled",
        endedAt: expect.any(String),
      }),
    ]);

    // A finished or unknown job: nothing to cancel, one line.
    const fast = inProcess(coord.api, { AQ_COORDINATOR_TOKEN: TOKEN });
    const again = await fast(["cancel", "LONG"]);
    expect([again.code, again.stderr]).toEqual([
      1,
      expect.stringMatching(
        /^aq: coordinator answered POST .*\/fleet\/jobs\/LONG\/cancel with 409: job LONG is cancelled: nothing to cancel\n$/,
      ),
    ]);
    const none = await fast(["cancel", "NOPE"]);
    expect([none.code, none.stderr]).toEqual([2, "aq: coordinator: no job NOPE\n"]);
  });
});

describe("shadow mode (AQ_FLEET=shadow)", () => {
  it("runs the local queue as with the fleet off, claims nothing, heartbeats as a shadow factory and mirrors every stage of the local job", async () => {
    const coord = await coordinator({ token: TOKEN });
    const proxy = await recordingProxy(coord.api);
    coord.store.enqueue(devJob("FLEETJOB", "true"));
    const s = await fleetAq(tempDir("aq-shadow-"), {
      AQ_FLEET: "shadow",
      AQ_FLEET_API: proxy.api,
      AQ_FACTORY_ID: "factory-s",
    });
    await s.addLocal("L1", "echo local");
    const summary = await s.drain();
    expect(stageOf(s.queue, "L1")).toBe("review");
    expect(summary.outcomes).toEqual({ L1: "review" });

    expect(
      proxy.requests.map((request) => kindOf(request)).filter((kind) => kind !== "heartbeat" && kind !== "other"),
    ).toEqual([]);
    expect(proxy.of("claim")).toEqual([]);
    expect(coord.store.job("FLEETJOB")).toMatchObject({ stage: "queued", leaseEpoch: 0, factoryId: null });
    expect(coord.store.events("FLEETJOB").map((event) => event.type)).toEqual(["enqueued"]);
    expect(coord.store.factories()).toEqual([
      expect.objectContaining({
        id: "factory-s",
        mode: "shadow",
        capabilities: expect.arrayContaining(["engine:shell"]),
      }),
    ]);

    const history = (metaOf(s.queue, "L1").history as Array<{ to: string }>).map((entry) => entry.to);
    expect(history).toEqual(["queued", "assigned", "building", "review"]);
    const observed = coord.store.observedEvents().filter((event) => event.jobId === "L1");
    expect(observed.map((event) => event.stage)).toEqual(history);
    expect(observed.every((event) => event.factoryId === "factory-s")).toBe(true);
    // No prompt left the host.
    for (const request of proxy.requests) expect(JSON.stringify(request.json ?? {})).not.toContain("echo local");

    // The operator sees it: a shadow factory that holds nothing, its job observed, the fleet job waiting for a live (non-shadow) factory.
    const ops = tempDir("aq-fleet-ops-");
    writeTestConfig(ops);
    const run = operator(ops, coord.api, { AQ_COORDINATOR_TOKEN: TOKEN });
    const jobs = await run(["fleet", "jobs"]);
    expect(jobs.code, jobs.stderr).toBe(0);
    expect(jobs.stdout).toMatch(/\nfactory-s\s+L1\s+review\s+queued → assigned → building → review\s+\S+Z\n/);
    expect(jobs.stdout).toMatch(/^FLEETJOB\s+queued\s+0\s+-\s+0\s+-\s+waiting: no live factory$/m);
    const factories = JSON.parse(
      (await inProcess(coord.api, { AQ_COORDINATOR_TOKEN: TOKEN })(["factories", "--json"])).stdout,
    ).factories;
    expect(factories).toEqual([expect.objectContaining({ id: "factory-s", mode: "shadow", leases: [] })]);
  });

  it("a coordinator that is down (refusing, or accepting and never answering) never slows or fails a local job: no call waits past its timeout, no retry", async () => {
    const hung = await hangingServer();
    const refused = `http://127.0.0.1:${await deadPort()}/api`;

    const off = await fleetAq(tempDir("aq-shadow-off-"), { AQ_FLEET: "0" });
    await off.addLocal("L1", "true");
    await off.drain();
    const offHistory = (metaOf(off.queue, "L1").history as Array<{ to: string }>).map((entry) => entry.to);

    for (const api of [refused, hung.api]) {
      const s = await fleetAq(tempDir("aq-shadow-down-"), {
        AQ_FLEET: "shadow",
        AQ_FLEET_API: api,
        AQ_FACTORY_ID: "factory-s",
      });
      const started = Date.now();
      await s.addLocal("L1", "true");
      await s.drain();
      const elapsed = Date.now() - started;
      const meta = metaOf(s.queue, "L1");
      expect(stageOf(s.queue, "L1")).toBe("review");
      expect(meta.attempts).toBe(1);
      expect((meta.history as Array<{ to: string }>).map((entry) => entry.to)).toEqual(offHistory);
      // The job's own moves never waited for a call: assigned → review within less than one call's timeout,
      // although (for the hanging coordinator) every call made meanwhile was still unanswered.
      const at = (to: string) =>
        Date.parse((meta.history as Array<{ to: string; at: string }>).find((entry) => entry.to === to)!.at);
      expect(at("review") - at("assigned")).toBeLessThan(SHADOW_TIMEOUT_MS);
      // The runner's stop waits for calls in flight, bounded by one timeout.
      expect(elapsed).toBeLessThan(at("review") - started + SHADOW_TIMEOUT_MS + 1_500);
      expect(s.loudLines().filter((line) => line.includes("shadow: coordinator unreachable"))).toHaveLength(1);
    }
    expect(hung.requests.length).toBeGreaterThanOrEqual(4);
    expect(hung.answered).toBe(0);
  });
});

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A "coordinator" that accepts every connection and request and never answers. */
async function hangingServer() {
  const requests: IncomingMessage[] = [];
  const server = createServer((request) => {
    requests.push(request);
    request.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { api: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`, requests, answered: 0 };
}
