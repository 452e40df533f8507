import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DESIGN_STAGES } from "../helpers/store-fixtures.ts";
import { cliAdd, cliProject, expectOneLine, readJson, requireBuild, storeOf } from "../helpers/store-cli.ts";

beforeAll(requireBuild);

describe("aq status", () => {
  it("aq status --json prints one JSON object: counts for every stage and jobs with id, stage, origin and reason where set", async () => {
    const project = cliProject();
    await cliAdd(project, "waiting-job");
    await cliAdd(project, "broke-job");
    await cliAdd(project, "parked-job");
    const store = await storeOf(project.queue);
    await store.move("broke-job", "queued", "failed", { by: "test", reason: "engine exited 1" });
    expect((await project.run(["block", "parked-job", "--reason", "needs an API key"])).code).toBe(0);

    const result = await project.run(["status", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout); // the whole of stdout is one JSON document
    expect(typeof report).toBe("object");
    expect(Array.isArray(report)).toBe(false);
    expect(result.stdout.trimStart().startsWith("{")).toBe(true);

    expect(Object.keys(report.counts).sort()).toEqual([...DESIGN_STAGES].sort());
    expect(report.counts).toEqual({
      queued: 1,
      assigned: 0,
      building: 0,
      review: 0,
      testing: 0,
      shipped: 0,
      blocked: 1,
      failed: 1,
      dead_letter: 0,
      quarantine: 0,
    });
    expect("factoryId" in report).toBe(false); // fleet is off

    expect(Array.isArray(report.jobs)).toBe(true);
    expect(report.jobs.map((job: { id: string }) => job.id).sort()).toEqual(["broke-job", "parked-job", "waiting-job"]);
    const byId = Object.fromEntries(report.jobs.map((job: { id: string }) => [job.id, job]));
    expect(byId["waiting-job"]).toMatchObject({ id: "waiting-job", stage: "queued", origin: { kind: "local" } });
    expect(byId["broke-job"]).toMatchObject({
      id: "broke-job",
      stage: "failed",
      origin: { kind: "local" },
      reason: "engine exited 1",
    });
    expect(byId["parked-job"]).toMatchObject({
      id: "parked-job",
      stage: "blocked",
      origin: { kind: "local" },
      reason: "needs an API key",
    });
    expect("reason" in byId["waiting-job"]).toBe(false);
    for (const job of report.jobs) {
      expect(job.origin).toEqual({ kind: "local" });
      expect("fleet" in job).toBe(false); // only fleet jobs carry it
    }
  });

  it("aq status --json on an empty queue still has every stage at 0 and no jobs", async () => {
    const project = cliProject();
    const result = await project.run(["status", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.counts).toEqual(Object.fromEntries(DESIGN_STAGES.map((stage) => [stage, 0])));
    expect(report.jobs).toEqual([]);
  });

  it("aq status ID --json gives that job's meta", async () => {
    const project = cliProject();
    await cliAdd(project, "detail-job", { engine: "shell", priority: 3 });
    await cliAdd(project, "other-job");
    const result = await project.run(["status", "detail-job", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const detail = JSON.parse(result.stdout);
    const meta = readJson(join(project.queue, "queued", "detail-job", "meta.json"));
    expect(detail).toMatchObject({ id: "detail-job", stage: "queued" });
    expect(detail.meta).toEqual(meta);
    expect(detail.meta).toMatchObject({
      id: "detail-job",
      stage: "queued",
      attempts: 0,
      priority: 3,
      origin: { kind: "local" },
    });
    expect(detail.meta.history).toEqual([{ from: null, to: "queued", at: meta.createdAt, by: expect.any(String) }]);
  });

  it("shows what a building job's agent reported: its last activity in the table, its session in the detail and the JSON", async () => {
    const project = cliProject();
    await cliAdd(project, "busy-agent");
    const store = await storeOf(project.queue);
    const quietSince = new Date(Date.now() - 95_000).toISOString();
    const agent = {
      name: "claude",
      sessionId: "5e55-10n",
      model: "claude-x",
      turns: 7,
      toolCalls: 4,
      inputTokens: 1200,
      outputTokens: 300,
      costUsd: 0.0123,
      lastActivityAt: quietSince,
    };
    await store.move("busy-agent", "queued", "assigned", { by: "test" });
    await store.move("busy-agent", "assigned", "building", { by: "test", patch: (meta) => ({ ...meta, agent }) });

    const table = await project.run(["status"]);
    expect(table.stdout).toMatch(/^busy-agent\s+building\s.*claude active 2m ago$/m);
    const detail = await project.run(["status", "busy-agent"]);
    expect(detail.stdout).toContain(
      "agent claude, session 5e55-10n · model claude-x · 7 turn(s) · 4 tool call(s) · tokens 1200 in / 300 out · $0.0123 · last activity 2m ago",
    );
    const json = JSON.parse((await project.run(["status", "--json"])).stdout);
    expect(json.jobs[0].agent).toEqual(agent);
  });

  it("aq status NOPE exits 2 with one line naming the job", async () => {
    const project = cliProject();
    await cliAdd(project, "real-job");
    const [plain, json] = await Promise.all([
      project.run(["status", "NOPE"]),
      project.run(["status", "NOPE", "--json"]),
    ]);
    for (const result of [plain, json]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(expectOneLine(result.stderr)).toContain("NOPE");
    }
  });
});
