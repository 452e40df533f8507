import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq } from "../helpers/cli.ts";
import { gitWorld } from "../helpers/git-world.ts";

/**
 * `aq run` that could not work through the queue says so and exits non-zero: it never prints
 * "nothing to run" and exits 0 while a job is stuck, and it never waits for ever either. What is
 * in the way here is a directory where aq takes a job's lock: not a lock of aq's, so nobody can
 * be told to own it and aq must not remove it.
 */
describe("e2e: aq run exits non-zero when it cannot work through the queue", () => {
  it("recovery that cannot take back a dead runner's job: exit 1 naming the job, not 'nothing to run'; once cleared, the job runs", async () => {
    const w = gitWorld({ queueInGit: true, config: { killGrace: "200ms" } });
    await w.add("stuck", {}, "echo done > done.txt\n");
    const crashed = await aq(["run", "--drain"], { cwd: w.home, env: { AQ_CRASH_POINT: "spawn:recorded" } });
    expect(crashed.signal, crashed.stderr).toBe("SIGKILL");
    const stage = w.stage("stuck");
    expect(["assigned", "building"]).toContain(stage);
    const inTheWay = join(w.queue, ".aq", "locks", "jobs", "stuck");
    mkdirSync(inTheWay, { recursive: true });

    const run = await w.cli(["run", "--drain"]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/stuck: recovery failed: .*is a directory, not a lock aq made/);
    expect(run.stderr.trim().split("\n").at(-1)).toMatch(/aq run could not work through the queue: stuck: /);
    expect(run.stderr).not.toContain("nothing to run");
    expect(w.stage("stuck")).toBe(stage);

    rmSync(inTheWay, { recursive: true });
    await w.drain();
    expect(w.stage("stuck")).toBe("review");
  });

  it("a claim that cannot be made: exit 1 with the reason, the job left queued, no wait for ever", async () => {
    const w = gitWorld({ queueInGit: true });
    await w.add("blocked", {}, "echo done > done.txt\n");
    const inTheWay = join(w.queue, ".aq", "locks", "jobs", "blocked");
    mkdirSync(inTheWay, { recursive: true });

    for (const mode of ["--once", "--drain"]) {
      const run = await w.cli(["run", mode]);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/claim failed: .*blocked is a directory, not a lock aq made/);
      expect(run.stderr).not.toContain("nothing to run");
      expect(w.stage("blocked")).toBe("queued");
    }

    rmSync(inTheWay, { recursive: true });
    expect((await w.ok(["run", "--once"])).stdout).toBe("blocked\treview\n");
  });
});
