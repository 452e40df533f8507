import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { git } from "../helpers/git.ts";
import { commitFile, filesAt, gitWorld } from "../helpers/git-world.ts";

/** A linked worktree's own git directory, from its `.git` file. */
function adminDirOf(worktree: string): string {
  const text = readFileSync(join(worktree, ".git"), "utf8");
  return resolve(worktree, /^gitdir: (.+)$/m.exec(text)![1]!.trim());
}

const REPO_FILES = ["README.md", "b.txt", "c.txt"];

/**
 * A job whose first attempt reached review; it is sent round again (block, retry) after its
 * worktree was left as `damage` leaves it. The second attempt must see the first one's work,
 * and neither the branch nor the ship may carry the deletion of files that were never checked out.
 */
async function secondAttemptAfter(damage: (worktree: string, admin: string) => void) {
  const w = gitWorld();
  commitFile(w.repo, "b.txt", "b\n");
  commitFile(w.repo, "c.txt", "c\n");
  await w.add("half", {}, "if [ -f one.txt ]; then echo two > two.txt; else echo one > one.txt; fi\n");
  await w.drain();
  expect(w.stage("half")).toBe("review");
  const first = w.meta("half");
  const path = first.worktree!.path;
  await w.ok(["block", "half", "--reason", "once more"]);
  await w.ok(["retry", "half"]);

  damage(path, adminDirOf(path));
  const drained = await w.drain();

  expect(w.stage("half"), drained.stderr).toBe("review");
  expect(git(w.repo, "diff", "--name-status", first.worktree!.baseCommit, "aq/half").split("\n")).toEqual([
    "A\tone.txt",
    "A\ttwo.txt",
  ]);
  expect(filesAt(w.repo, "aq/half")).toEqual([...REPO_FILES, "one.txt", "two.txt"]);
  for (const file of REPO_FILES) expect(existsSync(join(path, file)), file).toBe(true);
  expect(existsSync(join(adminDirOf(path), "index.lock"))).toBe(false);

  await w.ok(["ship", "half", "--force"]);
  expect(filesAt(w.repo, "main")).toEqual([...REPO_FILES, "one.txt", "two.txt"]);
}

describe("e2e: a half checked-out worktree is verified before reuse", () => {
  it("one whose checkout was interrupted (no index, git's index.lock left, files missing) is made again from the job's branch: no deletion is committed or shipped", async () => {
    await secondAttemptAfter((worktree, admin) => {
      rmSync(join(admin, "index"));
      writeFileSync(join(admin, "index.lock"), "");
      rmSync(join(worktree, "b.txt"));
      rmSync(join(worktree, "README.md"));
    });
  });

  it("one with its index but a lock a killed git left and tracked files missing is not trusted: made again, its deletions never committed", async () => {
    await secondAttemptAfter((worktree, admin) => {
      writeFileSync(join(admin, "index.lock"), "");
      rmSync(join(worktree, "b.txt"));
      rmSync(join(worktree, "c.txt"));
    });
  });
});
