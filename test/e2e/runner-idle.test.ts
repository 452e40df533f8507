import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq, waitFor } from "../helpers/cli.ts";
import { jobText, stageOf } from "../helpers/jobs.ts";
import { runnerSetup, settledIn, spawnAq } from "../helpers/runner-e2e.ts";

describe("aq run: an idle runner", () => {
  it("runs a job `aq add` put in from another process at once, though its poll is 90 s (the watcher on queued/)", async () => {
    // No poll, no orphan sweep (15 min) and no plugin brings the runner back within the bound: only the watcher.
    const { dir, queue } = runnerSetup({ pollInterval: "90s", plugins: [["tracker-echo", false]] });
    const runner = spawnAq(dir, ["run"]);
    await waitFor(() => existsSync(join(queue, ".aq", "runners", `${runner.pid}.json`)), 30_000, "the runner to start");
    writeFileSync(join(dir, "job.md"), jobText({ engine: "shell" }, "true"));

    const added = await aq(["add", "job.md", "--id", "late"], { cwd: dir });
    expect(added.code, added.stderr).toBe(0);

    await waitFor(() => settledIn(queue, "late", "review"), 45_000, "the added job in review");
    expect(stageOf(queue, "late")).toBe("review");
    runner.kill("SIGTERM");
    expect((await runner.exited).code).toBe(0);
  });
});
