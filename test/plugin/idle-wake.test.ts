import { describe, expect, it } from "vitest";
import { Runner } from "../../src/core/runner.ts";
import { waitFor } from "../helpers/cli.ts";
import { stageOf } from "../helpers/jobs.ts";
import { addJob, openBus } from "../helpers/plugin-bus.ts";
import { tempDir } from "../helpers/temp.ts";

/** Runs `runner` until the test stops it; the promise of its summary. */
function runForever(runner: Runner) {
  const done = runner.run({ mode: "forever", concurrency: 1 });
  return async () => {
    runner.stop();
    return done;
  };
}

describe("an idle runner's wake schedule", () => {
  it("sleeps until the earliest time its onIdle taps asked for, past its pollInterval, and asks every tap then", async () => {
    const { aq } = await openBus(tempDir(), { pollInterval: "50ms" });
    const late: number[] = [];
    const soon: number[] = [];
    aq.hooks.onIdle.tap("late", (ctx) => {
      late.push(Date.now());
      ctx.askAgainAt(Date.now() + 3_600_000);
      return undefined;
    });
    aq.hooks.onIdle.tap("soon", (ctx) => {
      soon.push(Date.now());
      ctx.askAgainAt(Date.now() + 1_500);
      return undefined;
    });
    const stop = runForever(new Runner(aq));

    await waitFor(() => soon.length >= 2, 30_000, "the tap that asked for 1.5 s to be asked again");
    await stop();

    // At a 50 ms poll the old loop asked ~30 times in 1.5 s; now the second ask is the one asked for.
    expect(soon[1]! - soon[0]!).toBeGreaterThanOrEqual(1_450);
    // The tap that asked for an hour was asked again at that wake too: a turn asks every tap.
    expect(late).toHaveLength(soon.length);
  });

  it("asks a tap again at the time it asked for when that is sooner than the pollInterval", async () => {
    const { aq } = await openBus(tempDir(), { pollInterval: "90s" });
    const asked: number[] = [];
    aq.hooks.onIdle.tap("soon", (ctx) => {
      asked.push(Date.now());
      ctx.askAgainAt(Date.now() + 200);
      return undefined;
    });
    const stop = runForever(new Runner(aq));

    // A 90 s poll: only the time asked for can bring the second ask inside the bound.
    await waitFor(() => asked.length >= 3, 30_000, "three asks, 200 ms apart");
    await stop();
    expect(asked[2]! - asked[0]!).toBeGreaterThanOrEqual(380);
  });

  it("keeps polling at pollInterval while one onIdle tap says nothing of when to ask it again", async () => {
    const { aq } = await openBus(tempDir(), { pollInterval: "50ms" });
    const silent: number[] = [];
    aq.hooks.onIdle.tap("late", (ctx) => {
      ctx.askAgainAt(Date.now() + 3_600_000);
      return undefined;
    });
    aq.hooks.onIdle.tap("silent", () => {
      silent.push(Date.now());
      return undefined;
    });
    const stop = runForever(new Runner(aq));

    await waitFor(() => silent.length >= 5, 30_000, "five asks of the tap that said nothing");
    await stop();
  });

  it("wakes at once for a job put in queued/ while it sleeps until a time far off (the watcher)", async () => {
    const { aq } = await openBus(tempDir(), { pollInterval: "90s" });
    let asked = 0;
    aq.hooks.onIdle.tap("late", (ctx) => {
      asked++;
      ctx.askAgainAt(Date.now() + 3_600_000);
      return undefined;
    });
    const stop = runForever(new Runner(aq));
    await waitFor(() => asked >= 1, 30_000, "the runner to be idle");

    await addJob(aq, "dropped", "true");

    // Neither the 90 s poll, its orphan sweep (15 min) nor the tap's hour: only the watcher wakes it in time.
    await waitFor(() => stageOf(aq.config.queueDir, "dropped") === "review", 45_000, "the job in review");
    const summary = await stop();
    expect(summary.outcomes).toEqual({ dropped: "review" });
  });
});
