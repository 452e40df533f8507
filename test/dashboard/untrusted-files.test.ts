import { execFileSync } from "node:child_process";
import { rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startDashboard } from "../helpers/dashboard.ts";
import { stageOf } from "../helpers/jobs.ts";
import { cliProject, requireBuild, storeOf } from "../helpers/store-cli.ts";
import { addJob } from "../helpers/store-fixtures.ts";
import { tempDir } from "../helpers/temp.ts";

/** What a job folder holds is not trusted by the dashboard: links are refused, ids are checked. */

requireBuild();

const SECRET = "SECRET-OUTSIDE-THE-QUEUE-77f1";

async function projectWithJob(id: string) {
  const project = cliProject();
  const store = await storeOf(project.queue);
  await addJob(store, id);
  await store.move(id, "queued", "failed", { by: "test", reason: "failed for the test" });
  return { project, dir: join(project.queue, "failed", id) };
}

describe("aq dashboard: files in a job folder", () => {
  it("never serves a link's target: a log.txt or job.md that is a symbolic link is refused in one line that does not name the target", async () => {
    const outside = join(tempDir("aq-outside-"), "secret.txt");
    writeFileSync(outside, `${SECRET}\n`);
    const { project, dir } = await projectWithJob("job-1");
    rmSync(join(dir, "job.md"));
    symlinkSync(outside, join(dir, "job.md"));
    symlinkSync(outside, join(dir, "log.txt"));
    const dashboard = await startDashboard(project.dir);

    const log = await dashboard.get("/api/jobs/job-1/log");
    expect(log.status).toBe(403);
    expect(log.body.error).toBe("log.txt is not a regular file (a link?): not served");
    for (const path of ["/api/jobs/job-1/log?from=0", "/api/jobs/job-1"]) {
      const answer = await dashboard.get(path);
      expect(answer.text, path).not.toContain(SECRET);
      expect(answer.text, path).not.toContain(outside);
    }
    const job = await dashboard.get("/api/jobs/job-1");
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ id: "job-1", stage: "failed", logSize: 0 });
    expect(job.body.prompt).toBeUndefined();
    expect((await dashboard.get("/api/jobs?stage=failed")).text).not.toContain(SECRET);
  });

  it("refuses a log.txt that is a FIFO without hanging", async () => {
    const { project, dir } = await projectWithJob("job-2");
    execFileSync("mkfifo", [join(dir, "log.txt")]);
    const dashboard = await startDashboard(project.dir);
    expect((await dashboard.get("/api/jobs/job-2/log")).status).toBe(403);
    expect((await dashboard.get("/api/jobs/job-2")).body).toMatchObject({ id: "job-2", logSize: 0 });
  });

  it("checks every id in a route like aq add --id: traversal, a NUL, a leading dash or 101 characters are 400 and touch nothing", async () => {
    const { project } = await projectWithJob("job-3");
    const dashboard = await startDashboard(project.dir);
    for (const id of ["..%2F..%2Fx", "..%2F", "job-3%00", "-job", "a".repeat(101), "job%2F3", "%E0%A4%A"]) {
      expect((await dashboard.get(`/api/jobs/${id}`)).status, id).toBe(400);
      expect((await dashboard.get(`/api/jobs/${id}/log`)).status, id).toBe(400);
      expect((await dashboard.post(`/api/jobs/${id}/block`, { reason: "r" })).status, id).toBe(400);
      expect((await dashboard.post(`/api/jobs/${id}/retry`)).status, id).toBe(400);
    }
    expect(stageOf(project.queue, "job-3")).toBe("failed");
  });
});
