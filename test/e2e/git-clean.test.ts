import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/cli.ts";
import { git } from "../helpers/git.ts";
import { pathOf } from "../helpers/jobs.ts";
import {
  branches,
  fileAt,
  filesAt,
  gitWorld,
  revParse,
  statusLines,
  subjects,
  worktreePaths,
} from "../helpers/git-world.ts";

const lines = (text: string) => text.split("\n").filter(Boolean);

describe("e2e: aq clean removes finished jobs' worktrees, never their unmerged work", () => {
  it("removes the worktree and branch of failed and dead-letter jobs that hold nothing unmerged", async () => {
    const w = gitWorld();
    const base = revParse(w.repo, "main");
    // failed/: changed nothing, then its test failed. dead_letter/: changed nothing, exited 1 on its only attempt.
    await w.add("idle-failed", { test: "false" }, "true\n");
    await w.add("idle-dead", { maxAttempts: 1 }, "exit 1\n");
    await w.drain();
    expect((await w.cli(["promote", "idle-failed"])).code).toBe(1);
    expect(w.stage("idle-failed")).toBe("failed");
    expect(w.stage("idle-dead")).toBe("dead_letter");
    const failedTree = w.meta("idle-failed").worktree!.path;
    const deadTree = w.meta("idle-dead").worktree!.path;
    expect(worktreePaths(w.repo).sort()).toEqual([w.repo, failedTree, deadTree].sort());

    const result = await w.cli(["clean"]);
    expect(result.code).toBe(0);
    expect(lines(result.stdout).sort()).toEqual([
      `removed ${deadTree} (aq/idle-dead)`,
      `removed ${failedTree} (aq/idle-failed)`,
    ]);
    expect(existsSync(failedTree)).toBe(false);
    expect(existsSync(deadTree)).toBe(false);
    expect(worktreePaths(w.repo)).toEqual([w.repo]);
    expect(branches(w.repo)).toEqual(["main"]);
    expect(revParse(w.repo, "main")).toBe(base);
    // The jobs themselves stay where they are.
    expect(w.stage("idle-failed")).toBe("failed");
    expect(w.stage("idle-dead")).toBe("dead_letter");

    const again = await w.cli(["clean"]);
    expect(again.code).toBe(0);
    expect(lines(again.stdout).filter((line) => /^(removed|kept)\b/.test(line))).toEqual([]);
  });

  it("keeps and lists the worktrees of finished jobs holding unmerged commits or uncommitted changes; --force removes them; unfinished jobs are never touched", async () => {
    const w = gitWorld();
    // failed/ with a commit not in main (its test failed after the work was committed).
    await w.add("committed", { test: "false" }, "echo committed-work > committed.txt\n");
    // dead_letter/ with uncommitted changes (exited 1 on its only attempt).
    await w.add("dirty", { maxAttempts: 1 }, "echo dirty-work > dirty.txt\nexit 1\n");
    // review/: not finished.
    await w.add("waiting", {}, "echo waiting > waiting.txt\n");
    await w.drain();
    expect((await w.cli(["promote", "committed"])).code).toBe(1);
    const committed = w.meta("committed");
    const dirty = w.meta("dirty");
    const waiting = w.meta("waiting");
    expect([w.stage("committed"), w.stage("dirty"), w.stage("waiting")]).toEqual(["failed", "dead_letter", "review"]);

    const kept = await w.cli(["clean"]);
    expect(kept.code).toBe(0);
    const out = lines(kept.stdout);
    expect(out.filter((line) => line.startsWith("kept"))).toHaveLength(2);
    expect(out.filter((line) => line.startsWith("removed"))).toEqual([]);
    const committedLine = out.find((line) => line.includes("(aq/committed)"));
    const dirtyLine = out.find((line) => line.includes("(aq/dirty)"));
    expect(committedLine).toMatch(
      new RegExp(`^kept +${committed.worktree!.path} \\(aq/committed\\): .*1 commit.*not merged into main`),
    );
    expect(dirtyLine).toMatch(new RegExp(`^kept +${dirty.worktree!.path} \\(aq/dirty\\): .*uncommitted`));
    expect(out.some((line) => line.includes("waiting"))).toBe(false);

    // Nothing was lost.
    expect(revParse(w.repo, "aq/committed")).toBe(committed.wip!.commit);
    expect(fileAt(w.repo, "aq/committed", "committed.txt")).toBe("committed-work");
    expect(readFileSync(join(dirty.worktree!.path, "dirty.txt"), "utf8")).toBe("dirty-work\n");
    expect(statusLines(dirty.worktree!.path)).toEqual(["?? dirty.txt"]);
    expect(worktreePaths(w.repo).sort()).toEqual(
      [w.repo, committed.worktree!.path, dirty.worktree!.path, waiting.worktree!.path].sort(),
    );
    expect(branches(w.repo)).toEqual(["aq/committed", "aq/dirty", "aq/waiting", "main"]);

    const forced = await w.cli(["clean", "--force"]);
    expect(forced.code).toBe(0);
    expect(lines(forced.stdout).sort()).toEqual([
      `removed ${committed.worktree!.path} (aq/committed)`,
      `removed ${dirty.worktree!.path} (aq/dirty)`,
    ]);
    expect(existsSync(committed.worktree!.path)).toBe(false);
    expect(existsSync(dirty.worktree!.path)).toBe(false);
    expect(branches(w.repo)).toEqual(["aq/waiting", "main"]);
    // The job in review keeps its worktree, branch and work even with --force.
    expect(worktreePaths(w.repo)).toEqual([w.repo, waiting.worktree!.path]);
    expect(revParse(w.repo, "aq/waiting")).toBe(waiting.wip!.commit);
    expect(readFileSync(join(waiting.worktree!.path, "waiting.txt"), "utf8")).toBe("waiting\n");
  });

  it("never deletes a branch holding unmerged commits without --force, even when its worktree is already gone", async () => {
    const w = gitWorld();
    await w.add("orphan-branch", { test: "false" }, "echo only-on-the-branch > work.txt\n");
    await w.drain();
    expect((await w.cli(["promote", "orphan-branch"])).code).toBe(1);
    const { worktree, wip } = w.meta("orphan-branch");
    git(w.repo, "worktree", "remove", worktree!.path);

    const kept = await w.cli(["clean"]);
    expect(kept.code).toBe(0);
    expect(lines(kept.stdout)[0]).toMatch(/^kept +.* \(aq\/orphan-branch\): .*not merged into main/);
    expect(branches(w.repo)).toEqual(["aq/orphan-branch", "main"]);
    expect(revParse(w.repo, "aq/orphan-branch")).toBe(wip!.commit);

    const forced = await w.cli(["clean", "--force"]);
    expect(forced.code).toBe(0);
    expect(branches(w.repo)).toEqual(["main"]);
  });

  // Regression (fixed; src/core/worktree.ts unmergedCount, used by src/actions/clean.ts): when the job's base
  // branch no longer exists (merged and deleted, renamed), `git rev-list --count base..aq/<id>`
  // fails, gitMaybe answers undefined and unmergedCount returns 0, so plain `aq clean` runs
  // `git branch -D aq/<id>` and the job's commits are reachable from no branch any more.
  it("never deletes a branch holding unmerged commits without --force when the job's base branch is gone", async () => {
    const w = gitWorld();
    git(w.repo, "switch", "-q", "-c", "feature-x");
    await w.add("based-elsewhere", { test: "false" }, "echo precious > precious.txt\n");
    await w.drain();
    expect((await w.cli(["promote", "based-elsewhere"])).code).toBe(1);
    const { wip } = w.meta("based-elsewhere");
    expect(w.meta("based-elsewhere").worktree!.baseBranch).toBe("feature-x");
    git(w.repo, "switch", "-q", "main");
    git(w.repo, "branch", "-D", "feature-x");

    const result = await w.cli(["clean"]);
    expect(result.code).toBe(0);
    expect(branches(w.repo)).toEqual(["aq/based-elsewhere", "main"]);
    expect(revParse(w.repo, "aq/based-elsewhere")).toBe(wip!.commit);
    expect(lines(result.stdout)[0]).toMatch(/^kept +.* \(aq\/based-elsewhere\): /);
  });
});

describe("e2e: a failed attempt's uncommitted work survives retry and clean", () => {
  it("keeps the uncommitted changes of a job that exited 1 through aq clean and aq retry, and the next attempt builds on them", async () => {
    const w = gitWorld();
    const body = [
      "if [ -f precious.txt ]; then cat precious.txt > saw.txt; exit 0; fi",
      "echo precious-work > precious.txt",
      "echo 'edited by attempt 1' >> README.md",
      "exit 1",
    ].join("\n");
    await w.add("precious", { maxAttempts: 1 }, body);
    await w.drain();
    expect(w.stage("precious")).toBe("dead_letter");
    const tree = w.meta("precious").worktree!.path;
    const uncommitted = () => ({
      status: statusLines(tree).sort(),
      precious: readFileSync(join(tree, "precious.txt"), "utf8"),
      readme: readFileSync(join(tree, "README.md"), "utf8"),
    });
    const left = {
      status: [" M README.md", "?? precious.txt"],
      precious: "precious-work\n",
      readme: "# test repo\nedited by attempt 1\n",
    };
    expect(uncommitted()).toEqual(left);

    const cleaned = await w.cli(["clean"]);
    expect(cleaned.code).toBe(0);
    expect(cleaned.stdout).toMatch(/^kept +.* \(aq\/precious\): .*uncommitted/);
    expect(uncommitted()).toEqual(left);

    const retried = await w.cli(["retry", "precious"]);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toBe("precious: queued\n");
    expect(uncommitted()).toEqual(left);

    await w.drain();
    expect(w.stage("precious")).toBe("review");
    const meta = w.meta("precious");
    expect(meta.worktree!.path).toBe(tree);
    expect(meta.wip!.commit).toBe(revParse(w.repo, "aq/precious"));
    expect(fileAt(w.repo, "aq/precious", "saw.txt")).toBe("precious-work");
    expect(fileAt(w.repo, "aq/precious", "precious.txt")).toBe("precious-work");
    expect(fileAt(w.repo, "aq/precious", "README.md")).toBe("# test repo\nedited by attempt 1");
    expect(filesAt(w.repo, "aq/precious")).toEqual(["README.md", "precious.txt", "saw.txt"]);
    expect(statusLines(tree)).toEqual([]);
  });

  it("keeps what the engine wrote when the runner itself is killed, and the recovered job's next attempt sees it", async () => {
    const w = gitWorld();
    const started = join(w.root, "started");
    const body = [
      "if [ -f wip.txt ]; then cat wip.txt > saw.txt; exit 0; fi",
      "echo written-before-the-crash > wip.txt",
      `touch ${started}`,
      "sleep 5",
    ].join("\n");
    await w.add("crash", {}, body);
    const runner = w.start(["run", "--once"]);
    await waitFor(() => existsSync(started), 10_000, "the engine to write its work");
    runner.kill("SIGKILL");
    await runner.exited;
    expect(w.stage("crash")).toBe("building");

    await w.drain();
    expect(w.stage("crash")).toBe("review");
    const meta = w.meta("crash");
    expect(pathOf(meta)).toEqual([
      "queued",
      "assigned",
      "building",
      "failed",
      "queued",
      "assigned",
      "building",
      "review",
    ]);
    expect(meta.attempts).toBe(2);
    expect(fileAt(w.repo, "aq/crash", "saw.txt")).toBe("written-before-the-crash");
    expect(fileAt(w.repo, "aq/crash", "wip.txt")).toBe("written-before-the-crash");
    expect(subjects(w.repo, "main..aq/crash")).toHaveLength(2);
  });
});
