import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import type { AqHookError } from "../../src/core/errors.ts";
import { createRunnerHooks } from "../../src/core/hooks.ts";
import type { JobMeta } from "../../src/core/meta.ts";
import { statusJobOf } from "../../src/core/status.ts";
import { ROOT } from "../helpers/cli.ts";
import { startDashboard } from "../helpers/dashboard.ts";
import { cliProject, requireBuild, storeOf } from "../helpers/store-cli.ts";
import { newJob } from "../helpers/store-fixtures.ts";

/**
 * `aq status` and `aq dashboard` show what any plugin contributes — a panel of facts and tables,
 * per-job fields, columns and badges — through one generic path: a third-party plugin's
 * contributions appear exactly as the fleet's do, and the files of that path name no plugin.
 */

requireBuild();

const PLUGIN = join(ROOT, "test", "fixtures", "plugin-contributions", "review-clock.ts");

async function projectWithJobs() {
  const project = cliProject({ plugins: [["tracker-echo", false], PLUGIN] });
  const store = await storeOf(project.queue);
  await store.create(newJob("hotfix", { engine: "shell", priority: 7 }), { by: "test" });
  await store.create(newJob("chore", { engine: "shell", priority: 0 }), { by: "test" });
  return project;
}

describe("generic plugin contributions", () => {
  it("aq status: a third-party plugin's field reaches --json, its column the table, its badge the job's detail", async () => {
    const project = await projectWithJobs();

    const json = await project.run(["status", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const jobs = Object.fromEntries(JSON.parse(json.stdout).jobs.map((job: { id: string }) => [job.id, job]));
    expect(jobs.hotfix).toMatchObject({ tier: "urgent", columns: { tier: "urgent" }, badges: ["urgent"] });
    expect(jobs.chore).toMatchObject({ tier: "normal", columns: { tier: "normal" } });
    expect("badges" in jobs.chore).toBe(false);

    const human = await project.run(["status"]);
    expect(human.code, human.stderr).toBe(0);
    const lines = human.stdout.split("\n");
    const header = lines.find((line) => line.startsWith("ID"))!;
    expect(header).toMatch(/\bSINCE\s+TIER\s+REASON/);
    const column = header.indexOf("TIER");
    expect(lines.find((line) => line.startsWith("hotfix"))!.slice(column)).toMatch(/^urgent\b/);
    expect(lines.find((line) => line.startsWith("chore"))!.slice(column)).toMatch(/^normal\b/);

    const detail = await project.run(["status", "hotfix"]);
    expect(detail.stdout.split("\n")[2]).toBe("  urgent, tier urgent");
  });

  it("aq dashboard: the plugin's panel is served under its name, its columns and badges with each job", async () => {
    const project = await projectWithJobs();
    const dashboard = await startDashboard(project.dir);

    const summary = (await dashboard.get("/api/summary")).body;
    expect(summary.panels).toEqual({
      "review-clock": {
        title: "Review clock",
        facts: [
          { label: "urgent", value: "1", tone: "warn" },
          { label: "tracked", value: "2" },
        ],
        tables: [
          {
            columns: [{ label: "job", kind: "job" }, { label: "stage", kind: "stage" }, { label: "priority" }],
            rows: [["hotfix", "queued", 7]],
          },
        ],
      },
    });
    const rows = (await dashboard.get("/api/jobs")).body.jobs;
    expect(rows.find((job: { id: string }) => job.id === "hotfix")).toMatchObject({
      tier: "urgent",
      columns: { tier: "urgent" },
      badges: ["urgent"],
    });
    expect((await dashboard.get("/api/jobs/hotfix")).body).toMatchObject({
      columns: { tier: "urgent" },
      badges: ["urgent"],
    });
    // The search finds a job by what plugins say of it.
    expect((await dashboard.get("/api/jobs?q=urgent")).body.jobs.map((job: { id: string }) => job.id)).toEqual([
      "hotfix",
    ]);
  });

  it("a statusJob tap that throws is reported with its plugin, and the row keeps what the others gave", () => {
    const errors: AqHookError[] = [];
    const hooks = createRunnerHooks((error) => errors.push(error));
    hooks.statusJob.tap("first", (job) => ({ ...job, columns: { ...job.columns, tier: "urgent" } }));
    hooks.statusJob.tap("broken", () => {
      throw new Error("no tier today");
    });
    hooks.statusJob.tap("last", (job) => ({ ...job, badges: ["seen"] }));
    const at = "2026-01-01T00:00:00.000Z";
    const meta = { id: "j1", attempts: 0, priority: 0, origin: { kind: "local" }, createdAt: at, history: [] };
    const row = statusJobOf(hooks, meta as unknown as JobMeta, "queued");
    expect(row).toMatchObject({ id: "j1", stage: "queued", columns: { tier: "urgent" }, badges: ["seen"] });
    expect(errors.map((error) => [error.plugin, error.hook])).toEqual([["broken", "statusJob"]]);
  });

  it("the status and dashboard code names no plugin: src/dashboard, aq status and the core's status files", () => {
    const files = [
      ...filesUnder(join(ROOT, "src", "dashboard")),
      join(ROOT, "src", "cli", "commands", "status.ts"),
      join(ROOT, "src", "core", "status.ts"),
      join(ROOT, "src", "core", "contributions.ts"),
    ];
    expect(files.length).toBeGreaterThan(10);
    const named = files.flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .flatMap((line, i) =>
          /fleet|tracker|lease|epoch/i.test(line) ? [`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`] : [],
        ),
    );
    expect(named).toEqual([]);
  });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith(".ts") ? [path] : [];
  });
}
