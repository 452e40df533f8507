import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq, startAq, waitFor, writeTestConfig } from "../helpers/cli.ts";
import { coordinator, devJob, localId, recordingProxy, TOKEN } from "../helpers/fleet-world.ts";
import { kindOf } from "../helpers/fleet-mock.ts";
import { gitRepo } from "../helpers/git.ts";
import { metaOf, stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

async function factory(options: { leaseMs: number; config?: Record<string, unknown> }) {
  const coord = await coordinator({ leaseMs: options.leaseMs });
  const proxy = await recordingProxy(coord.api);
  const dir = tempDir("aq-fleet-drain-");
  writeTestConfig(dir, { plugins: [["tracker-echo", false]], ...options.config });
  const env = {
    AQ_FLEET: "1",
    AQ_FLEET_API: proxy.api,
    AQ_FLEET_TOKEN: TOKEN,
    AQ_FACTORY_ID: "factory-a",
    AQ_FLEET_LEASE_RENEW_SEC: "0.2",
  };
  return { coord, proxy, dir, env, queue: join(dir, "queue") };
}

describe("draining a fleet factory", () => {
  it("aq drain: the factory stops claiming, heartbeats 'draining' and renews its lease while the running job finishes, then exits 0", async () => {
    const w = await factory({ leaseMs: 800 });
    w.coord.store.enqueue(devJob("J1", "sleep 1.5\necho done"));
    w.coord.store.enqueue(devJob("J2", "true"));
    const runner = startAq(["run", "--concurrency", "1"], { cwd: w.dir, env: w.env, timeoutMs: 30_000 });
    await waitFor(() => w.coord.store.job("J1")?.stage === "building", 10_000, "J1 building");
    const drainedAt = Date.now();
    const drain = await aq(["drain"], { cwd: w.dir, env: w.env });
    expect(drain.code).toBe(0);
    expect(drain.stdout).toMatch(/^draining runner pid \d+ \(forever\)$/m);
    expect(drain.stdout).toMatch(/^drained 1 runner\(s\) in /m);
    const exit = await runner.exited;
    expect(exit.code).toBe(0);
    expect(stageOf(w.queue, localId("J1", 1))).toBe("review");
    expect(w.coord.store.job("J1")).toMatchObject({ stage: "review", leaseEpoch: 1 });
    // Stopped claiming: J2 was never claimed.
    expect(w.coord.store.job("J2")).toMatchObject({ stage: "queued", leaseEpoch: 0 });
    const after = w.proxy.requests.filter((request) => request.at >= drainedAt);
    // From the signal on (aq drain takes a moment to start), every heartbeat says draining.
    const beats = after.filter((request) => kindOf(request) === "heartbeat");
    const firstDraining = beats.findIndex((beat) => beat.json?.health === "draining");
    expect(firstDraining).toBeGreaterThanOrEqual(0);
    expect(beats.slice(firstDraining).map((beat) => beat.json.health)).toEqual(
      beats.slice(firstDraining).map(() => "draining"),
    );
    expect(beats.length - firstDraining).toBeGreaterThan(1);
    const drainingSince = beats[firstDraining]!.at;
    expect(
      after.filter((request) => kindOf(request) === "renew" && request.status === 200 && request.at >= drainingSince)
        .length,
    ).toBeGreaterThan(0);
    expect(after.some((request) => kindOf(request) === "claim")).toBe(false);
    expect(w.coord.store.events("J1").map((event) => event.type)).not.toContain("lease-expired");
  });

  it("past drainTimeout the job is handed back: its work committed and reported as a checkpoint, the lease released, the local copy parked in blocked as aq run prints", async () => {
    const w = await factory({ leaseMs: 5_000, config: { drainTimeout: "300ms" } });
    const repo = gitRepo(join(w.dir, "repo"));
    w.coord.store.enqueue(devJob("J1", "echo one > one.txt\nsleep 30", { cwd: repo }));
    const runner = startAq(["run"], { cwd: w.dir, env: w.env, timeoutMs: 30_000 });
    await waitFor(() => w.coord.store.job("J1")?.stage === "building", 10_000, "J1 building");
    // The script has written one.txt in the job's worktree (the work the checkpoint must carry).
    await waitFor(
      () => existsSync(join(w.queue, ".worktrees", localId("J1", 1), "one.txt")),
      30_000,
      "one.txt in the worktree",
    );
    const stoppedAt = Date.now();
    runner.kill("SIGTERM");
    const exit = await runner.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    const job = w.coord.store.job("J1")!;
    expect(job).toMatchObject({ stage: "queued", leaseEpoch: 1, factoryId: null });
    const checkpoint = job.checkpoint!;
    expect(checkpoint.wipBranch).toBe(`aq/${localId("J1", 1)}`);
    expect(execFileSync("git", ["show", `${checkpoint.wipCommit}:one.txt`], { cwd: repo, encoding: "utf8" })).toBe(
      "one\n",
    );
    expect(w.coord.store.events("J1").map((event) => event.type)).toContain("released");
    const local = localId("J1", 1);
    expect(stageOf(w.queue, local)).toBe("blocked");
    expect(metaOf(w.queue, local).reason).toMatch(
      /^handed back to the fleet: lease 1 of J1 released with its checkpoint$/,
    );
    // One move, building → blocked, and aq run prints the stage where the job rests.
    const moves = metaOf(w.queue, local).history.map((entry) => `${entry.from} → ${entry.to}`);
    expect(moves.slice(moves.indexOf("assigned → building"))).toEqual(["assigned → building", "building → blocked"]);
    expect(exit.stdout.trim().split("\n")).toEqual([`${local}\tblocked`]);
    // Another factory resumes from the checkpoint.
    const other = await w.coord.store.claim("factory-b", ["os:linux"]);
    expect(other?.job).toMatchObject({ leaseEpoch: 2, checkpoint: { wipCommit: checkpoint.wipCommit } });
  });
});
