import { describe, expect, it } from "vitest";
import { startAq, waitFor } from "../helpers/cli.ts";
import { startDashboard } from "../helpers/dashboard.ts";
import { groupMembers } from "../helpers/group-members.ts";
import { metaOf, stageOf } from "../helpers/jobs.ts";
import { cliProject, requireBuild, storeOf } from "../helpers/store-cli.ts";
import { addJob } from "../helpers/store-fixtures.ts";

requireBuild();

describe("cancel from the dashboard", () => {
  it("cancel to failed: the runner kills the engine's group and the job rests in failed/ with who cancelled it; only with the page's token; not for a job that is not running", async () => {
    const project = cliProject();
    const store = await storeOf(project.queue);
    await addJob(store, "endless", { engine: "shell" }, "echo begun\nsleep 300");
    await addJob(store, "idle-one");
    const dashboard = await startDashboard(project.dir);
    const runner = startAq(["run", "--once"], { cwd: project.dir, timeoutMs: 60_000 });
    const pgid = await waitFor(
      () => stageOf(project.queue, "endless") === "building" && metaOf(project.queue, "endless").engine?.pgid,
      15_000,
      "the engine's group in meta",
    );
    expect(groupMembers(pgid).length).toBeGreaterThan(0);

    expect(
      (await dashboard.post("/api/jobs/endless/cancel", { to: "failed" }, { "content-type": "application/json" }))
        .status,
    ).toBe(403);
    expect((await dashboard.post("/api/jobs/endless/cancel", { to: "nowhere" })).status).toBe(400);
    const notRunning = await dashboard.post("/api/jobs/idle-one/cancel", {});
    expect(notRunning.status).toBe(409);
    expect(notRunning.body.error).toBe("job idle-one is in queued/, not running; only a building job can be cancelled");

    const answer = await dashboard.post("/api/jobs/endless/cancel", { to: "failed" });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body).toMatchObject({ ok: true, action: "cancel", stage: "failed" });
    await waitFor(() => groupMembers(pgid).length === 0, 5_000, "the engine's process group to be gone");
    const meta = metaOf(project.queue, "endless");
    expect(meta.stage).toBe("failed");
    expect(meta.reason).toBe("cancelled by cli:dashboard");
    expect(meta.attempts).toBe(1);
    expect((await runner.exited).code).toBe(0);
    expect(stageOf(project.queue, "idle-one")).toBe("queued"); // --once: the runner took one job
  });
});
