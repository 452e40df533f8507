import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { idsIn } from "../helpers/jobs.ts";
import { cliAdd, cliProject, expectOneLine, readJson, requireBuild, storeOf } from "../helpers/store-cli.ts";

beforeAll(requireBuild);

describe("aq retry and aq block", () => {
  it("aq retry ID requeues a failed, blocked or dead-letter job with its attempts reset", async () => {
    const project = cliProject();
    for (const id of ["was-failed", "was-blocked", "was-dead"]) await cliAdd(project, id);
    const store = await storeOf(project.queue);
    const later = new Date(Date.now() + 3600_000).toISOString();
    const spent = (meta: any) => ({ ...meta, attempts: 3, notBefore: later });
    await store.move("was-failed", "queued", "failed", { by: "test", reason: "engine exited 1", patch: spent });
    await store.move("was-blocked", "queued", "blocked", {
      by: "test",
      reason: "AQ_BLOCKED: needs input",
      patch: spent,
    });
    await store.move("was-dead", "queued", "failed", { by: "test", reason: "timeout", patch: spent });
    await store.move("was-dead", "failed", "dead_letter", { by: "test", reason: "attempts exhausted" });
    const from = { "was-failed": "failed", "was-blocked": "blocked", "was-dead": "dead_letter" } as const;

    const results = await Promise.all(Object.keys(from).map((id) => project.run(["retry", id])));
    for (const result of results) expect(result.code, result.stderr).toBe(0);

    expect(idsIn(project.queue, "queued")).toEqual(["was-blocked", "was-dead", "was-failed"]);
    for (const stage of ["failed", "blocked", "dead_letter"] as const) expect(idsIn(project.queue, stage)).toEqual([]);
    for (const [id, stage] of Object.entries(from)) {
      const meta = readJson(join(project.queue, "queued", id, "meta.json"));
      expect(meta.stage).toBe("queued");
      expect(meta.attempts).toBe(0);
      expect(meta.notBefore).toBeUndefined(); // claimable right away
      expect(meta.reason).toBeUndefined();
      expect(meta.history.at(-1)).toMatchObject({ from: stage, to: "queued" });
    }
  });

  it("aq block ID --reason R parks a quarantined job, as aq status tells a person to", async () => {
    const project = cliProject();
    await cliAdd(project, "split-brain");
    const store = await storeOf(project.queue);
    await store.move("split-brain", "queued", "quarantine", { by: "test", reason: "stale lease: epoch 3 holds it" });

    const result = await project.run(["block", "split-brain", "--reason", "superseded by the other factory's run"]);
    expect(result.code, result.stderr).toBe(0);
    const meta = readJson(join(project.queue, "blocked", "split-brain", "meta.json"));
    expect(meta.reason).toBe("superseded by the other factory's run");
    expect(meta.history.at(-1)).toMatchObject({ from: "quarantine", to: "blocked" });
  });

  it("aq retry of a queued job fails with one line and changes nothing", async () => {
    const project = cliProject();
    await cliAdd(project, "still-queued");
    const before = readJson(join(project.queue, "queued", "still-queued", "meta.json"));
    const result = await project.run(["retry", "still-queued"]);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(result.stdout).toBe("");
    expect(expectOneLine(result.stderr)).toContain("still-queued");
    expect(readJson(join(project.queue, "queued", "still-queued", "meta.json"))).toEqual(before);
  });

  it("aq block ID --reason R parks a queued job in blocked with reason R", async () => {
    const project = cliProject();
    await cliAdd(project, "to-park");
    const result = await project.run(["block", "to-park", "--reason", "waiting for the API key"]);
    expect(result.code, result.stderr).toBe(0);
    expect(idsIn(project.queue, "queued")).toEqual([]);
    expect(idsIn(project.queue, "blocked")).toEqual(["to-park"]);
    const meta = readJson(join(project.queue, "blocked", "to-park", "meta.json"));
    expect(meta.stage).toBe("blocked");
    expect(meta.reason).toBe("waiting for the API key");
    expect(meta.history.at(-1)).toMatchObject({ from: "queued", to: "blocked", reason: "waiting for the API key" });
  });

  it("aq block ID without --reason exits 2 with one line and leaves the job queued", async () => {
    const project = cliProject();
    await cliAdd(project, "not-parked");
    const [bare, empty] = await Promise.all([
      project.run(["block", "not-parked"]),
      project.run(["block", "not-parked", "--reason="]),
    ]);
    for (const result of [bare, empty]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(expectOneLine(result.stderr)).toMatch(/reason/);
    }
    expect(idsIn(project.queue, "queued")).toEqual(["not-parked"]);
    expect(idsIn(project.queue, "blocked")).toEqual([]);
  });
});
