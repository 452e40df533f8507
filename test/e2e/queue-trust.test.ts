import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { git } from "../helpers/git.ts";
import { branches, gitWorld, worktreePaths } from "../helpers/git-world.ts";
import { idsIn, metaOf, stageOf } from "../helpers/jobs.ts";
import { enqueue, isRunning, killAtEnd, runAq, runnerSetup } from "../helpers/runner-e2e.ts";
import { aq } from "../helpers/cli.ts";

/** A process group of its own that has nothing to do with aq (a person's long job). */
function bystander(): number {
  const child = spawn("sleep", ["60"], { detached: true, stdio: "ignore" });
  child.unref();
  killAtEnd(child.pid!);
  return child.pid!;
}

/** Rewrites a job's meta.json as a crafted file would. */
function craft(
  queue: string,
  stage: string,
  id: string,
  change: (meta: Record<string, unknown>) => Record<string, unknown>,
): void {
  const path = join(queue, stage, id, "meta.json");
  writeFileSync(path, JSON.stringify(change(JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>)));
}

/** Moves a queued job's directory to `stage`, as a crafted queue would hold it. */
function placeIn(queue: string, id: string, stage: string): void {
  mkdirSync(join(queue, stage), { recursive: true });
  renameSync(join(queue, "queued", id), join(queue, stage, id));
  craft(queue, stage, id, (meta) => ({ ...meta, stage }));
}

describe("e2e: aq signals only its own processes", () => {
  it("recovery never signals a process group meta.json names when nothing proves it is the job's engine", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [{ id: "orphan", body: "echo again" }]);
    placeIn(queue, "orphan", "building");
    const pgid = bystander();
    // A dead runner, an engine group with no start time and no mark: not provably aq's.
    craft(queue, "building", "orphan", (meta) => ({
      ...meta,
      attempts: 1,
      owner: { pid: 999_999_99 },
      engine: { name: "shell", pgid, startedAt: new Date().toISOString() },
    }));
    const run = await runAq(dir, ["run", "--once"]);
    expect(run.code, run.stderr).toBe(0);
    expect(isRunning(pgid)).toBe(true);
    expect(run.stderr).toContain(`process group ${pgid} is not provably its engine`);
    expect(stageOf(queue, "orphan")).toBe("review");
  });

  it("recovery never signals a group whose recorded start time does not match its leader", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [{ id: "reused", body: "echo again" }]);
    placeIn(queue, "reused", "building");
    const pgid = bystander();
    craft(queue, "building", "reused", (meta) => ({
      ...meta,
      attempts: 1,
      owner: { pid: 999_999_99 },
      engine: { name: "shell", pgid, startTime: "1", startedAt: new Date().toISOString() },
    }));
    const run = await runAq(dir, ["run", "--once"]);
    expect(run.code, run.stderr).toBe(0);
    expect(isRunning(pgid)).toBe(true);
  });

  it("aq drain never signals a pid a runner record names without a matching start time", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, []);
    const pid = bystander();
    mkdirSync(join(queue, ".aq", "runners"), { recursive: true });
    writeFileSync(
      join(queue, ".aq", "runners", `${pid}.json`),
      JSON.stringify({ pid, id: "runner:x", startedAt: new Date().toISOString(), mode: "forever", concurrency: 1 }),
    );
    const drained = await aq(["drain", "--timeout", "1s"], { cwd: dir });
    expect(drained.stdout).toContain(`not signalling pid ${pid}`);
    expect(isRunning(pid)).toBe(true);
  });
});

describe("e2e: no symbolic link inside the queue is followed", () => {
  for (const file of ["prompt.txt", "log.txt", "job.md"]) {
    it(`a queued job whose ${file} is a link is moved to failed with a one-line reason that does not name the target; the target is untouched`, async () => {
      const { dir, queue } = runnerSetup();
      await enqueue(queue, [{ id: "linked", body: "echo engine-output" }]);
      const target = join(dir, "precious.txt");
      writeFileSync(target, "keep me\n");
      const path = join(queue, "queued", "linked", file);
      if (file === "job.md") renameSync(path, `${path}.orig`);
      symlinkSync(target, path);
      const run = await runAq(dir, ["run", "--once"]);
      expect(run.code, run.stderr).toBe(0);
      expect(readFileSync(target, "utf8")).toBe("keep me\n");
      expect(stageOf(queue, "linked")).toBe("failed");
      const reason = metaOf(queue, "linked").reason!;
      expect(reason).toBe(`${file} is a symbolic link: aq follows no link inside the queue`);
      expect(reason).not.toContain(target);
    });
  }

  it("a job directory whose meta.json is a link is moved aside as broken; the link is kept, renamed, never followed", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [{ id: "metalink", body: "echo hi" }]);
    const target = join(dir, "other.json");
    writeFileSync(target, readFileSync(join(queue, "queued", "metalink", "meta.json")));
    const before = readFileSync(target, "utf8");
    renameSync(join(queue, "queued", "metalink", "meta.json"), join(dir, "unused.json"));
    symlinkSync(target, join(queue, "queued", "metalink", "meta.json"));
    const run = await runAq(dir, ["run", "--once"]);
    expect(run.code, run.stderr).toBe(0);
    expect(stageOf(queue, "metalink")).toBe("failed");
    expect(metaOf(queue, "metalink").reason).toBe("meta.json is a symbolic link: aq follows no link inside the queue");
    expect(existsSync(join(queue, "failed", "metalink", "meta.json.link"))).toBe(true);
    expect(readFileSync(target, "utf8")).toBe(before);
  });
});

describe("e2e: adoption validates names", () => {
  it("a directory dropped into queued/ under a name that is not a job id is moved to failed under a safe id, with a one-line reason", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [{ id: "fine", body: "echo hi" }]);
    renameSync(join(queue, "queued", "fine"), join(queue, "queued", "bad name;rm"));
    const run = await runAq(dir, ["run", "--once"]);
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(join(queue, "queued", "bad name;rm"))).toBe(false);
    const [id] = idsIn(queue, "failed");
    expect(id).toMatch(/^bad-name-rm-[0-9a-f]{4}$/);
    expect(metaOf(queue, id!).reason).toMatch(/^queued\/"bad name;rm": not a valid job id/);
  });
});

describe("e2e: aq clean and aq ship touch only aq's own worktrees and aq/<id> branches", () => {
  it("aq clean keeps a person's worktree and branch that a crafted failed/ job names; aq ship refuses to merge them", async () => {
    const w = gitWorld();
    git(w.repo, "branch", "release-1.0");
    const theirs = join(w.root, "release-tree");
    git(w.repo, "worktree", "add", "-q", theirs, "release-1.0");
    await w.add("crafted", {}, "true");
    placeIn(w.queue, "crafted", "failed");
    const record = {
      worktree: { path: theirs, repo: w.repo, baseBranch: "main", baseCommit: git(w.repo, "rev-parse", "HEAD") },
      wip: { branch: "release-1.0", commit: git(w.repo, "rev-parse", "release-1.0") },
    };
    craft(w.queue, "failed", "crafted", (meta) => ({ ...meta, ...record }));
    const cleaned = await w.cli(["clean", "--force"]);
    expect(cleaned.code, cleaned.stderr).toBe(0);
    expect(worktreePaths(w.repo)).toContain(theirs);
    expect(branches(w.repo)).toContain("release-1.0");

    renameSync(join(w.queue, "failed", "crafted"), join(w.queue, "testing", "crafted"));
    craft(w.queue, "testing", "crafted", (meta) => ({ ...meta, stage: "testing" }));
    const shipped = await w.cli(["ship", "crafted"]);
    expect(shipped.code).toBe(1);
    expect(shipped.stderr.trim().split("\n")).toHaveLength(1);
    expect(shipped.stderr).toContain("is not aq/crafted");
    expect(git(w.repo, "log", "--format=%s", "main")).not.toContain("aq: ship crafted");
    expect(worktreePaths(w.repo)).toContain(theirs);
  });
});
