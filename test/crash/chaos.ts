import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { expect, onTestFinished } from "vitest";
import { startAq } from "../helpers/cli.ts";
import { writeJob } from "../helpers/jobs.ts";
import { crashWorld, expectBackoffKept, expectConverged, flakyScript } from "./world.ts";

/** A small seeded generator, so a failing run can be told apart and repeated (the seed is in the test's name). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export const SEED = Number(process.env.AQ_CHAOS_SEED ?? Date.now() % 100_000);

/**
 * `runners` runners over a git-queue with worktrees, one of them killed with SIGKILL at random
 * every so often and another started, for `seconds`; then one runner drains what is left, and
 * the queue must have converged: no job lost, none run twice at once, every backoff kept.
 */
export async function chaos(options: { jobs: number; runners: number; seconds: number; minKills: number }) {
  const w = crashWorld();
  const next = random(SEED);
  const ids = Array.from({ length: options.jobs }, (_, i) => `chaos-${i}`);
  for (const id of ids) {
    const file = writeJob(
      join(w.root, "jobs"),
      `${id}.md`,
      { cwd: JSON.stringify(w.repo), maxAttempts: 40 },
      flakyScript(w.flags, 0.3),
    );
    expect((await w.run(["add", file, "--id", id])).code).toBe(0);
  }
  const runners = new Set<ReturnType<typeof startAq>>();
  const start = () => {
    const runner = startAq(["run", "--concurrency", "2"], { cwd: w.home, timeoutMs: 60_000 });
    runners.add(runner);
    void runner.exited.then(() => runners.delete(runner));
  };
  onTestFinished(() => {
    for (const runner of runners) runner.kill("SIGKILL");
  });
  for (let i = 0; i < options.runners; i++) start();
  const until = Date.now() + options.seconds * 1000;
  let kills = 0;
  while (Date.now() < until) {
    await sleep(250 + next() * 700);
    const victims = [...runners];
    const victim = victims[Math.floor(next() * victims.length)];
    if (victim) {
      victim.kill("SIGKILL");
      kills++;
      await victim.exited;
    }
    start();
  }
  for (const runner of [...runners]) {
    runner.kill("SIGKILL");
    await runner.exited;
  }
  expect(kills).toBeGreaterThanOrEqual(options.minKills);

  const drained = await w.run(["run", "--drain", "--concurrency", "2"], {}, 280_000);
  expect(drained.code, drained.stderr).toBe(0);
  try {
    expectConverged(w, Object.fromEntries(ids.map((id) => [id, "review"])));
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- the last drain said:\n${drained.stderr}\nin ${w.root}`);
  }
  for (const id of ids) expectBackoffKept(w.meta(id));
}
