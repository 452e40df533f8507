import { afterEach, describe, expect, it } from "vitest";
import { idleClaimPauseMs } from "../../plugins/fleet/claim.ts";
import { Runner } from "../../src/core/runner.ts";
import { waitFor } from "../helpers/cli.ts";
import { MOCK_API, MockCoordinator } from "../helpers/fleet-mock.ts";
import { fleetAq, localId } from "../helpers/fleet-world.ts";
import { stageOf } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";

let mock: MockCoordinator | undefined;

afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

describe("an idle fleet factory", () => {
  it("waits longer between claims while the coordinator keeps having nothing, never past the renew interval", () => {
    expect([1, 2, 3, 4, 50].map((answers) => idleClaimPauseMs(answers, 300_000))).toEqual([
      5_000, 10_000, 15_000, 15_000, 15_000,
    ]);
    expect([1, 2, 3].map((answers) => idleClaimPauseMs(answers, 7_000))).toEqual([5_000, 7_000, 7_000]);
    expect(idleClaimPauseMs(0, 300_000)).toBe(5_000);
  });

  it("asks the coordinator at its pause after 'nothing to do', and its runner wakes for that, not at every poll", async () => {
    mock = new MockCoordinator([]).install();
    // The claim's pause is min(5 s, the renew interval): 1.5 s here; the runner's poll is 50 ms.
    const { aq } = await fleetAq(tempDir("aq-fleet-idle-"), {
      AQ_FLEET_API: MOCK_API,
      AQ_FLEET_LEASE_RENEW_SEC: "1.5",
    });
    const turns: number[] = [];
    aq.hooks.onIdle.tap("counter", (ctx) => {
      turns.push(Date.now());
      ctx.askAgainAt(Number.POSITIVE_INFINITY);
      return undefined;
    });
    const runner = new Runner(aq);
    const done = runner.run({ mode: "forever", concurrency: 1 });

    await waitFor(() => mock!.of("claim").length >= 3, 30_000, "three claims");
    const claims = mock.of("claim").map((request) => request.at);
    for (let at = 1; at < claims.length; at++) expect(claims[at]! - claims[at - 1]!).toBeGreaterThanOrEqual(1_400);
    // A 50 ms poll would have taken ~60 turns by the third claim; a turn per claim, and its orphan sweep, remain.
    expect(turns.length).toBeLessThanOrEqual(claims.length + 3);

    // A job the coordinator gets meanwhile is claimed at the next ask and runs.
    mock.jobs.push({
      id: "J9",
      bodyMd: "---\nengine: shell\n---\ntrue\n",
      options: { engine: "shell" },
      leaseEpoch: 1,
    });
    await waitFor(() => stageOf(aq.store.root, localId("J9", 1)) === "review", 30_000, "the fleet job in review");
    runner.stop();
    expect((await done).outcomes).toEqual({ [localId("J9", 1)]: "review" });
  });
});
