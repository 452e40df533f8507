import { describe, it } from "vitest";
import { chaos, SEED } from "../crash/chaos.ts";
import { CONVERGES, crashAndConverge, type Scenario } from "../crash/scenario.ts";

/**
 * The crash suite's representative cases, in `npm test`: kill -9 at the meta write before a
 * rename, at the rename, between a failure and its requeue, at the audit log's commit and right
 * after an engine's spawn, and a short
 * chaos of runners killed at random. Every crash point, each at several moments, and the longer
 * chaos are in `npm run test:crash`.
 */
const representative: Scenario[] = [
  { point: "move:next-meta-written", nth: 1, phase: "run" },
  { point: "move:renamed", nth: 1, phase: "run" },
  { point: "fail:before-requeue", nth: 1, phase: "run" },
  { point: "git:import-fed", nth: 1, phase: "add" },
  { point: "spawn:pgid-recorded", nth: 1, phase: "run" },
];

describe("crash safety (the representative cases; all of them: npm run test:crash)", () => {
  // One after another: each test removes its own directories when it ends (onTestFinished), which concurrent tests would share.
  describe.each(representative)("kill -9 at $point (hit $nth, during aq $phase), then a new runner", (scenario) => {
    it(CONVERGES, { timeout: 300_000 }, () => crashAndConverge(scenario));
  });

  it(
    `two runners killed with SIGKILL at random for 5 s and restarted lose no job and run none twice at once (seed ${SEED})`,
    {
      timeout: 300_000,
    },
    () => chaos({ jobs: 4, runners: 2, seconds: 5, minKills: 3 }),
  );
});
