import { join } from "node:path";
import { expect } from "vitest";
import type { CrashPoint } from "../../src/core/crash-point.ts";
import { writeJob } from "../helpers/jobs.ts";
import { crashWorld, expectBackoffKept, expectConverged, flakyScript } from "./world.ts";

export type Scenario = { point: CrashPoint; nth: number; phase: "add" | "run" };

export const CONVERGES =
  "converges: the job in one stage, retried with its backoff, never run twice at once, git fsck clean, the next job runs";

/**
 * kill -9 at one crash point (AQ_CRASH_POINT makes aq SIGKILL itself there), then a new runner:
 * it finishes or rolls back what was half done, and the queue converges.
 */
export async function crashAndConverge({ point, nth, phase }: Scenario): Promise<void> {
  const w = crashWorld();
  const crash = { AQ_CRASH_POINT: `${point}:${nth}` };
  // At a spawn point the first attempt's engine outlives its runner: the next runner must end it first.
  const spawnPoint = point.startsWith("spawn:started") || point === "spawn:pgid-recorded";
  const file = writeJob(
    join(w.root, "jobs"),
    "crash.md",
    { cwd: JSON.stringify(w.repo), maxAttempts: 6 },
    flakyScript(w.flags, spawnPoint ? 12 : 0.6),
  );
  if (phase === "add") {
    const added = await w.run(["add", file, "--id", "crash"], crash);
    expect(added.signal, added.stderr).toBe("SIGKILL");
    // An add that died was never acknowledged: the person adds again, and gets the job exactly once.
    const again = await w.run(["add", file, "--id", "crash"]);
    expect([0, 1]).toContain(again.code); // 1: the id is taken (the add had got through)
  } else {
    expect((await w.run(["add", file, "--id", "crash"])).code).toBe(0);
    const crashed = await w.run(["run", "--drain"], crash);
    expect(crashed.signal, crashed.stderr).toBe("SIGKILL");
  }
  const drained = await w.run(["run", "--drain"]);
  expect(drained.code, drained.stderr).toBe(0);
  if (spawnPoint) expect(drained.stderr).toMatch(/crash: ending the engine \(process group \d+\), left by runner \d+/);
  expectConverged(w, { crash: "review" });
  const meta = w.meta("crash");
  expect(meta.attempts).toBeLessThanOrEqual(6);
  expectBackoffKept(meta);

  await w.add("next", {}, "echo next > next.txt\n");
  const next = await w.run(["run", "--once"]);
  expect(next.stdout, next.stderr).toBe("next\treview\n");
  expectConverged(w, { crash: "review", next: "review" });
}
