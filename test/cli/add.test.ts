import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { idsIn, jobText, writeJob } from "../helpers/jobs.ts";
import { DESIGN_STAGES } from "../helpers/store-fixtures.ts";
import { cliProject, expectOneLine, readJson, requireBuild } from "../helpers/store-cli.ts";

beforeAll(requireBuild);

const ID_LINE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\n$/;
const everyJob = (queue: string) => DESIGN_STAGES.flatMap((stage) => idsIn(queue, stage).map((id) => `${stage}/${id}`));

describe("aq add", () => {
  it("aq add FILE enqueues the file as written and prints its id as the one line on stdout", async () => {
    const project = cliProject();
    const text = jobText({ engine: "shell", priority: 2 }, "echo from a file");
    writeFileSync(join(project.dir, "fix-bug.md"), text);
    const result = await project.run(["add", "fix-bug.md"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(ID_LINE);
    const id = result.stdout.trim();
    expect(everyJob(project.queue)).toEqual([`queued/${id}`]);
    expect(readFileSync(join(project.queue, "queued", id, "job.md"), "utf8")).toBe(text);
    expect(readJson(join(project.queue, "queued", id, "meta.json"))).toMatchObject({
      id,
      stage: "queued",
      attempts: 0,
      priority: 2,
      origin: { kind: "local" },
    });
  });

  it("aq add - reads the job from stdin", async () => {
    const project = cliProject();
    const text = jobText({ engine: "shell" }, "echo from stdin ✓");
    const result = await project.run(["add", "-"], text);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(ID_LINE);
    const id = result.stdout.trim();
    expect(everyJob(project.queue)).toEqual([`queued/${id}`]);
    expect(readFileSync(join(project.queue, "queued", id, "job.md"), "utf8")).toBe(text);
  });

  it("aq add --id ID uses that id", async () => {
    const project = cliProject();
    writeJob(project.dir, "job.md", { engine: "shell" }, "echo");
    const result = await project.run(["add", "job.md", "--id", "my-job_1"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("my-job_1\n");
    expect(everyJob(project.queue)).toEqual(["queued/my-job_1"]);
    expect(readJson(join(project.queue, "queued", "my-job_1", "meta.json")).id).toBe("my-job_1");
  });

  it("a duplicate id is refused with exit 1 (the id is taken) and the first job is kept as it was", async () => {
    const project = cliProject();
    const first = writeJob(project.dir, "first.md", { engine: "shell" }, "echo first");
    const second = writeJob(project.dir, "second.md", { engine: "shell" }, "echo second");
    expect((await project.run(["add", first, "--id", "dup"])).code).toBe(0);
    const result = await project.run(["add", second, "--id", "dup"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(expectOneLine(result.stderr)).toContain("dup");
    expect(everyJob(project.queue)).toEqual(["queued/dup"]);
    expect(readFileSync(join(project.queue, "queued", "dup", "job.md"), "utf8")).toBe(readFileSync(first, "utf8"));
  });

  it("of concurrent adds with one id exactly one succeeds, the others exit 1 with one line", async () => {
    const project = cliProject();
    const files = Array.from({ length: 6 }, (_, i) =>
      writeJob(project.dir, `racer-${i}.md`, { engine: "shell" }, `echo racer ${i}`),
    );
    const results = await Promise.all(files.map((file) => project.run(["add", file, "--id", "same-id"])));
    const codes = results.map((r) => r.code).sort();
    expect(codes, results.map((r) => r.stderr).join("")).toEqual([0, 1, 1, 1, 1, 1]);
    const winner = results.findIndex((r) => r.code === 0);
    expect(results[winner]!.stdout).toBe("same-id\n");
    expect(everyJob(project.queue)).toEqual(["queued/same-id"]);
    expect(readFileSync(join(project.queue, "queued", "same-id", "job.md"), "utf8")).toBe(
      readFileSync(files[winner]!, "utf8"),
    );
    for (const loser of results.filter((r) => r.code === 1)) expect(expectOneLine(loser.stderr)).toContain("same-id");
    expect(readdirSync(join(project.queue, ".aq", "tmp"))).toEqual([]); // no scratch directory left behind
  });

  it("a missing file is refused with exit 2 and one line naming it", async () => {
    const project = cliProject();
    const result = await project.run(["add", "no-such-job.md"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(expectOneLine(result.stderr)).toContain("no-such-job.md");
    expect(everyJob(project.queue)).toEqual([]);
  });

  it("malformed frontmatter is refused with exit 2 and exactly one stderr line naming the file and the problem; nothing is enqueued", async () => {
    const project = cliProject();
    const cases = [
      { name: "bad-duration.md", text: "---\nengine: shell\ntimeout: 4x\n---\necho\n", problem: /timeout/ },
      { name: "bad-yaml.md", text: "---\nengine: [shell, x\n---\necho\n", problem: /YAML/ },
      { name: "unclosed.md", text: "---\nengine: shell\necho\n", problem: /---/ },
    ];
    for (const { name, text } of cases) writeFileSync(join(project.dir, name), text);
    const results = await Promise.all(cases.map(({ name }) => project.run(["add", name])));
    for (const [i, { name, problem }] of cases.entries()) {
      const result = results[i]!;
      expect(result.code, name).toBe(2);
      expect(result.stdout).toBe("");
      const line = expectOneLine(result.stderr);
      expect(line).toContain(name);
      expect(line).toMatch(problem);
    }
    expect(everyJob(project.queue)).toEqual([]);
    // nor was a file dropped into queued/ for a runner to adopt later
    if (existsSync(join(project.queue, "queued"))) expect(readdirSync(join(project.queue, "queued"))).toEqual([]);
  });

  it("an invalid --id is refused with exit 2 and nothing is written", async () => {
    const project = cliProject();
    const file = writeJob(project.dir, "ok.md", { engine: "shell" }, "echo");
    const bads = ["../escape", "has space", "-dash-first", "a/b", "x".repeat(101)];
    const results = await Promise.all(bads.map((bad) => project.run(["add", file, `--id=${bad}`])));
    for (const [i, bad] of bads.entries()) {
      const result = results[i]!;
      expect(result.code, bad).toBe(2);
      expect(result.stdout).toBe("");
      expectOneLine(result.stderr);
    }
    expect(everyJob(project.queue)).toEqual([]);
    expect(existsSync(join(project.queue, "escape"))).toBe(false);
    expect(existsSync(join(project.dir, "escape"))).toBe(false);
  });

  it("unknown frontmatter keys are accepted and kept, with one warning line", async () => {
    const project = cliProject();
    const text = "---\nengine: shell\nslack: '#ops'\nreviewer: ada\n---\necho plugins read these\n";
    writeFileSync(join(project.dir, "extra-keys.md"), text);
    const result = await project.run(["add", "extra-keys.md", "--id", "extra"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("extra\n");
    const line = expectOneLine(result.stderr);
    expect(line).toMatch(/warn/i);
    expect(line).toContain("slack");
    expect(line).toContain("reviewer");
    expect(readFileSync(join(project.queue, "queued", "extra", "job.md"), "utf8")).toBe(text);
  });
});
