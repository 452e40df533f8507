import { describe, expect, it } from "vitest";
import { CRASH_POINTS } from "../../src/core/crash-point.ts";
import { CONVERGES, crashAndConverge, type Scenario } from "./scenario.ts";

/**
 * kill -9 at every named point (AQ_CRASH_POINT makes aq SIGKILL itself there): a new runner
 * then finishes or rolls back what was half done, and the queue converges.
 */
const scenarios: Scenario[] = CRASH_POINTS.flatMap((point): Scenario[] => {
  if (point.startsWith("create:")) return [{ point, nth: 1, phase: "add" }];
  if (point.startsWith("git:"))
    return [
      { point, nth: 1, phase: "add" },
      { point, nth: 2, phase: "run" },
    ];
  if (point === "move:next-meta-written")
    return [
      { point, nth: 1, phase: "run" },
      { point, nth: 3, phase: "run" },
    ];
  if (point === "move:renamed")
    return [
      { point, nth: 1, phase: "run" },
      { point, nth: 4, phase: "run" },
    ];
  // The first three atomic writes of a run: the claim's meta, the building meta, prompt.txt (each leaves a stray temp file).
  if (point === "atomic:temp-written") return [1, 2, 3].map((nth) => ({ point, nth, phase: "run" }));
  return [{ point, nth: 1, phase: "run" }];
});

describe("crash safety: kill -9 at each crash point, then a new runner", () => {
  it("places a scenario at every crash point", () => {
    expect(new Set(scenarios.map((s) => s.point))).toEqual(new Set(CRASH_POINTS));
  });

  // One after another: each test removes its own directories when it ends (onTestFinished), which concurrent tests would share.
  describe.each(scenarios)("at $point (hit $nth, during aq $phase)", (scenario) => {
    it(CONVERGES, { timeout: 420_000 }, () => crashAndConverge(scenario));
  });
});
