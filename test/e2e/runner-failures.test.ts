import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { idsIn, logOf, metaOf, pathOf } from "../helpers/jobs.ts";
import {
  at,
  enqueue,
  entriesTo,
  isRunning,
  killAtEnd,
  linesOf,
  pidFrom,
  runAq,
  runnerIdOf,
  runnerSetup,
} from "../helpers/runner-e2e.ts";

describe("aq run: failures, retries and dead letters", () => {
  it("a timeout kills the engine's whole process group, grandchildren included, and fails the job", async () => {
    const { dir, queue } = runnerSetup();
    const body = [
      `echo $$ > "${dir}/child.pid"`,
      "sleep 300 &",
      `echo $! > "${dir}/grandchild.pid"`,
      "echo waiting",
      "sleep 300",
    ].join("\n");
    await enqueue(queue, [{ id: "slow", frontmatter: { timeout: "1s", maxAttempts: 1 }, body }]);

    const run = runAq(dir, ["run", "--drain"]);
    const child = await pidFrom(join(dir, "child.pid"));
    const grandchild = await pidFrom(join(dir, "grandchild.pid"));
    killAtEnd(child, grandchild);
    const result = await run;

    expect(result.code).toBe(0);
    expect(result.stdout).toBe("slow\tdead_letter\n");
    expect(isRunning(child)).toBe(false);
    expect(isRunning(grandchild)).toBe(false);
    const meta = metaOf(queue, "slow");
    expect(meta.stage).toBe("dead_letter");
    expect(meta.attempts).toBe(1);
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "failed", "dead_letter"]);
    const failed = entriesTo(meta, "failed")[0]!;
    expect(failed.reason).toMatch(/timeout/);
    expect(meta.reason).toMatch(/timeout/);
    // Killed about when the timeout ran out, not when the script would have ended.
    const building = at(entriesTo(meta, "building")[0]);
    expect(at(failed) - building).toBeGreaterThanOrEqual(1_000);
    expect(at(failed) - building).toBeLessThan(5_000);
    expect(logOf(queue, "slow")).toContain("waiting");
  });

  it("a failing job is retried after the backoff, then dead-lettered when its attempts are used up", async () => {
    const { dir, queue } = runnerSetup({ retry: { backoff: "1s" } });
    const tries = join(dir, "tries.txt");
    await enqueue(queue, [
      { id: "flaky", frontmatter: { maxAttempts: 2 }, body: `echo "try $AQ_JOB_ID" >> "${tries}"\nexit 1` },
    ]);

    const result = await runAq(dir, ["run", "--drain"]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe("flaky\tdead_letter\n");
    expect(linesOf(tries)).toEqual(["try flaky", "try flaky"]);
    expect(idsIn(queue, "dead_letter")).toEqual(["flaky"]);
    const meta = metaOf(queue, "flaky");
    expect(meta.attempts).toBe(2);
    expect(pathOf(meta)).toEqual([
      "queued",
      "assigned",
      "building",
      "failed",
      "queued",
      "assigned",
      "building",
      "failed",
      "dead_letter",
    ]);
    for (const failed of entriesTo(meta, "failed")) expect(failed.reason).toMatch(/exited 1/);
    expect(meta.reason).toMatch(/2 of 2/);
    expect(meta.history.every((entry, i) => i === 0 || entry.by === runnerIdOf(result.pid))).toBe(true);
    // The second attempt waited out the 1s backoff after the first failure, and not much longer.
    const firstFailure = at(entriesTo(meta, "failed")[0]);
    const secondClaim = at(entriesTo(meta, "assigned")[1]);
    expect(secondClaim - firstFailure).toBeGreaterThanOrEqual(1_000);
    expect(secondClaim - firstFailure).toBeLessThan(2_500);
  });
});
