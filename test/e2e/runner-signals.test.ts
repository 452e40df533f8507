import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/cli.ts";
import { metaOf, pathOf, stageOf } from "../helpers/jobs.ts";
import {
  at,
  enqueue,
  entriesTo,
  isRunning,
  killAtEnd,
  pidFrom,
  runAq,
  runnerIdOf,
  runnerSetup,
  settledIn,
  spawnAq,
} from "../helpers/runner-e2e.ts";

describe("aq run: signals", () => {
  it("the first SIGTERM lets the running job finish to review, claims nothing more, and exits 0", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [
      {
        id: "busy",
        body: [`echo started > "${dir}/started"`, "sleep 0.6", `echo finished > "${dir}/finished"`].join("\n"),
      },
      { id: "next", body: `echo ran > "${dir}/next-ran"` },
    ]);
    const runner = spawnAq(dir, ["run"]);
    await waitFor(() => existsSync(join(dir, "started")), 10_000, "the job to start");

    runner.kill("SIGTERM");
    const result = await runner.exited;

    expect(result).toMatchObject({ code: 0, signal: null });
    expect(result.stdout).toBe("busy\treview\n");
    expect(readFileSync(join(dir, "finished"), "utf8")).toBe("finished\n");
    const meta = metaOf(queue, "busy");
    expect(meta).toMatchObject({ stage: "review", attempts: 1 });
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "review"]);
    // Stopping means no new claims: the other job was left alone.
    expect(existsSync(join(dir, "next-ran"))).toBe(false);
    expect(metaOf(queue, "next")).toMatchObject({ stage: "queued", attempts: 0 });
    expect(pathOf(metaOf(queue, "next"))).toEqual(["queued"]);
  });

  it("a second SIGINT kills the engine's process group and puts the job back in queued without counting the attempt", async () => {
    const { dir, queue } = runnerSetup();
    const body = [`echo $$ > "${dir}/engine.pid"`, "sleep 300 &", `echo $! > "${dir}/sleep.pid"`, "wait"].join("\n");
    await enqueue(queue, [{ id: "long", body }]);
    const runner = spawnAq(dir, ["run"]);
    const engine = await pidFrom(join(dir, "engine.pid"));
    const sleeper = await pidFrom(join(dir, "sleep.pid"));
    killAtEnd(engine, sleeper);

    runner.kill("SIGINT");
    await waitFor(() => runner.output().stderr.includes("SIGINT"), 5_000, "the runner to hear the first SIGINT");
    expect(isRunning(engine)).toBe(true);
    runner.kill("SIGINT");
    const result = await runner.exited;

    expect(result).toMatchObject({ code: 0, signal: null });
    expect(isRunning(engine)).toBe(false);
    expect(isRunning(sleeper)).toBe(false);
    const meta = metaOf(queue, "long");
    expect(meta).toMatchObject({ stage: "queued", attempts: 0 });
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "queued"]);
    expect(meta.history.at(-1)).toMatchObject({ from: "building", to: "queued", by: runnerIdOf(runner.pid!) });
    expect(meta.history.at(-1)!.reason).toMatch(/cancel/);
  });
});

describe("aq run: crash recovery", () => {
  it("a runner killed mid-job leaves its engine running; the next runner ends that engine, counts the attempt, and runs the job again", async () => {
    const { dir, queue } = runnerSetup();
    const body = [
      `if [ -f "${dir}/marker" ]; then`,
      // Second attempt: note whether the first attempt's engine was still running when this one began.
      `  old=$(cat "${dir}/engine.pid")`,
      "  state=$(cut -d' ' -f3 /proc/$old/stat 2>/dev/null)",
      `  if [ -n "$state" ] && [ "$state" != Z ]; then echo "$old was $state" > "${dir}/overlap"; fi`,
      `  echo second > "${dir}/second"`,
      "  exit 0",
      "fi",
      `touch "${dir}/marker"`,
      "sleep 300 &",
      `echo $! > "${dir}/sleep.pid"`,
      `echo $$ > "${dir}/engine.pid"`,
      "wait",
    ].join("\n");
    await enqueue(queue, [{ id: "survivor", frontmatter: { maxAttempts: 3 }, body }]);

    const first = spawnAq(dir, ["run"]);
    const engine = await pidFrom(join(dir, "engine.pid"));
    const sleeper = await pidFrom(join(dir, "sleep.pid"));
    killAtEnd(engine, sleeper);
    // The runner has recorded the engine's process group before it dies.
    await waitFor(
      () => settledIn(queue, "survivor", "building") && metaOf(queue, "survivor").engine?.pgid === engine,
      5_000,
      "the engine in meta.json",
    );

    first.kill("SIGKILL");
    const crashed = await first.exited;
    expect(crashed.signal).toBe("SIGKILL");
    // The engine is in its own process group: the runner's death does not take it down.
    expect(isRunning(engine)).toBe(true);
    expect(isRunning(sleeper)).toBe(true);
    expect(stageOf(queue, "survivor")).toBe("building");

    const result = await runAq(dir, ["run", "--drain"]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe("survivor\treview\n");
    expect(isRunning(engine)).toBe(false);
    expect(isRunning(sleeper)).toBe(false);
    expect(
      existsSync(join(dir, "overlap")),
      existsSync(join(dir, "overlap")) ? readFileSync(join(dir, "overlap"), "utf8") : "",
    ).toBe(false);
    expect(readFileSync(join(dir, "second"), "utf8")).toBe("second\n");
    const meta = metaOf(queue, "survivor");
    expect(meta).toMatchObject({ stage: "review", attempts: 2 });
    expect(pathOf(meta)).toEqual([
      "queued",
      "assigned",
      "building",
      "failed",
      "queued",
      "assigned",
      "building",
      "review",
    ]);
    const failed = entriesTo(meta, "failed")[0]!;
    expect(failed).toMatchObject({ from: "building", by: runnerIdOf(result.pid) });
    expect(failed.reason).toMatch(/died/);
    expect(failed.reason).toContain(String(first.pid));
    expect(entriesTo(meta, "assigned").map((entry) => entry.by)).toEqual([
      runnerIdOf(first.pid!),
      runnerIdOf(result.pid),
    ]);
    expect(at(entriesTo(meta, "assigned")[1])).toBeGreaterThanOrEqual(at(failed));
    expect(meta.engine).toBeUndefined();
  });
});
