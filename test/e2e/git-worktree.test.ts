import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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

describe("e2e: jobs in a git repository work in their own worktree", () => {
  it("runs a shell job in a worktree on aq/<id>, commits its change there, records wip, leaves the main checkout alone", async () => {
    const w = gitWorld();
    const base = revParse(w.repo, "main");
    await w.add("hello", {}, 'pwd -P > "$AQ_QUEUE_DIR/../../where.txt"\necho hello > new.txt\n');
    const run = await w.drain();
    expect(run.stdout).toBe("hello\treview\n");

    expect(w.stage("hello")).toBe("review");
    const meta = w.meta("hello");
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "review"]);
    expect(meta.wip).toEqual({ branch: "aq/hello", commit: revParse(w.repo, "aq/hello") });
    expect(meta.worktree).toMatchObject({ repo: w.repo, baseBranch: "main", baseCommit: base });
    const tree = meta.worktree!.path;
    expect(tree).not.toBe(w.repo);

    // The engine ran in the worktree, not in the repository's own checkout.
    expect(readFileSync(join(w.root, "where.txt"), "utf8").trim()).toBe(tree);
    expect(worktreePaths(w.repo)).toEqual([w.repo, tree]);
    expect(git(tree, "symbolic-ref", "--short", "HEAD")).toBe("aq/hello");
    expect(statusLines(tree)).toEqual([]);

    // Its change is one commit on aq/hello, on top of the base.
    expect(git(w.repo, "rev-parse", "aq/hello^")).toBe(base);
    expect(filesAt(w.repo, "aq/hello")).toEqual(["README.md", "new.txt"]);
    expect(fileAt(w.repo, "aq/hello", "new.txt")).toBe("hello");

    // The main checkout is untouched: same branch, same commit, clean, no new file.
    expect(git(w.repo, "symbolic-ref", "--short", "HEAD")).toBe("main");
    expect(revParse(w.repo, "main")).toBe(base);
    expect(statusLines(w.repo)).toEqual([]);
    expect(existsSync(join(w.repo, "new.txt"))).toBe(false);
    expect(branches(w.repo)).toEqual(["aq/hello", "main"]);
  });

  it("runs the engine in the same subdirectory of the worktree when cwd is a subdirectory of the repository", async () => {
    const w = gitWorld();
    mkdirSync(join(w.repo, "pkg", "lib"), { recursive: true });
    writeFileSync(join(w.repo, "pkg", "lib", "index.txt"), "lib\n");
    git(w.repo, "add", "-A");
    git(w.repo, "commit", "-q", "-m", "add pkg/lib");

    await w.add("sub", { cwd: join(w.repo, "pkg", "lib") }, "pwd -P > where.txt\ncat index.txt > copy.txt\n");
    await w.drain();

    expect(w.stage("sub")).toBe("review");
    const tree = w.meta("sub").worktree!.path;
    expect(readFileSync(join(tree, "pkg", "lib", "where.txt"), "utf8").trim()).toBe(join(tree, "pkg", "lib"));
    expect(filesAt(w.repo, "aq/sub")).toEqual([
      "README.md",
      "pkg/lib/copy.txt",
      "pkg/lib/index.txt",
      "pkg/lib/where.txt",
    ]);
    expect(fileAt(w.repo, "aq/sub", "pkg/lib/copy.txt")).toBe("lib");
    expect(existsSync(join(w.repo, "pkg", "lib", "where.txt"))).toBe(false);
    expect(statusLines(w.repo)).toEqual([]);
  });

  it("gives two concurrent jobs in one repository separate worktrees and branches that do not collide", async () => {
    const w = gitWorld();
    const marks = join(w.root, "marks");
    mkdirSync(marks);
    // Each job writes the same file name, then waits (up to 5 s) until the other has started:
    // both can only reach review if they really ran at the same time.
    const body = (me: string, other: string) =>
      [
        `echo ${me} > out.txt`,
        `touch ${marks}/${me}`,
        "i=0",
        `while [ ! -f ${marks}/${other} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done`,
        `test -f ${marks}/${other}`,
      ].join("\n");
    await w.add("job-a", { maxAttempts: 1 }, body("a", "b"));
    await w.add("job-b", { maxAttempts: 1 }, body("b", "a"));
    const run = await w.drain("--concurrency", "2");

    expect(run.stdout.split("\n").filter(Boolean).sort()).toEqual(["job-a\treview", "job-b\treview"]);
    const a = w.meta("job-a");
    const b = w.meta("job-b");
    expect(a.wip).toEqual({ branch: "aq/job-a", commit: revParse(w.repo, "aq/job-a") });
    expect(b.wip).toEqual({ branch: "aq/job-b", commit: revParse(w.repo, "aq/job-b") });
    expect(a.worktree!.path).not.toBe(b.worktree!.path);
    expect(worktreePaths(w.repo).sort()).toEqual([w.repo, a.worktree!.path, b.worktree!.path].sort());
    expect(fileAt(w.repo, "aq/job-a", "out.txt")).toBe("a");
    expect(fileAt(w.repo, "aq/job-b", "out.txt")).toBe("b");
    expect(readFileSync(join(a.worktree!.path, "out.txt"), "utf8")).toBe("a\n");
    expect(readFileSync(join(b.worktree!.path, "out.txt"), "utf8")).toBe("b\n");
    expect(branches(w.repo)).toEqual(["aq/job-a", "aq/job-b", "main"]);
    expect(existsSync(join(w.repo, "out.txt"))).toBe(false);
  });

  it("runs the configured worktrees.setup command in a new worktree before the engine", async () => {
    const w = gitWorld({ config: { worktrees: { setup: "echo prepared-by-setup > .env.local" } } });
    await w.add("setup", {}, "cat .env.local > seen.txt\n");
    await w.drain();

    expect(w.stage("setup")).toBe("review");
    const tree = w.meta("setup").worktree!.path;
    expect(readFileSync(join(tree, "seen.txt"), "utf8")).toBe("prepared-by-setup\n");
    expect(fileAt(w.repo, "aq/setup", "seen.txt")).toBe("prepared-by-setup");
    // The setup ran in the worktree only.
    expect(existsSync(join(w.repo, ".env.local"))).toBe(false);
  });

  it("does not run worktrees.setup again when a retry reuses the worktree", async () => {
    const runs = "setup-runs.txt";
    const w = gitWorld({ config: { worktrees: { setup: `echo ran >> "$AQ_QUEUE_DIR/../../${runs}"` } } });
    await w.add("once", {}, "if [ -f first.txt ]; then exit 0; fi\necho 1 > first.txt\nexit 1\n");
    await w.drain();

    expect(w.stage("once")).toBe("review");
    expect(w.meta("once").attempts).toBe(2);
    expect(readFileSync(join(w.root, runs), "utf8")).toBe("ran\n");
  });

  it("retries a failed attempt in the same worktree and branch, keeping everything the first attempt left", async () => {
    const w = gitWorld();
    const body = [
      "if [ -f attempt1.txt ]; then cat attempt1.txt > attempt2-saw.txt; pwd -P > where2.txt; exit 0; fi",
      "echo from-attempt-1 > attempt1.txt",
      "pwd -P > where1.txt",
      "exit 1",
    ].join("\n");
    await w.add("again", {}, body);
    const run = await w.drain();
    expect(run.stdout).toBe("again\treview\n");

    const meta = w.meta("again");
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
    expect(meta.history[3]!.reason).toMatch(/exited 1/);
    const tree = meta.worktree!.path;
    expect(meta.wip).toEqual({ branch: "aq/again", commit: revParse(w.repo, "aq/again") });

    // One worktree, one branch, for both attempts.
    expect(worktreePaths(w.repo)).toEqual([w.repo, tree]);
    expect(branches(w.repo)).toEqual(["aq/again", "main"]);
    expect(fileAt(w.repo, "aq/again", "where1.txt")).toBe(tree);
    expect(fileAt(w.repo, "aq/again", "where2.txt")).toBe(tree);

    // The second attempt saw the first one's work, and all of it is on the branch.
    expect(fileAt(w.repo, "aq/again", "attempt2-saw.txt")).toBe("from-attempt-1");
    expect(fileAt(w.repo, "aq/again", "attempt1.txt")).toBe("from-attempt-1");
    expect(filesAt(w.repo, "aq/again")).toEqual([
      "README.md",
      "attempt1.txt",
      "attempt2-saw.txt",
      "where1.txt",
      "where2.txt",
    ]);
    expect(subjects(w.repo, "main..aq/again")).toHaveLength(2);
    expect(statusLines(tree)).toEqual([]);
  });

  it("re-creates the worktree from the job's branch when a retried job's worktree was removed", async () => {
    const w = gitWorld();
    // Attempt 1 commits work (review), its test fails (failed); a person removes the worktree.
    await w.add(
      "reattach",
      { test: "false" },
      "if [ -f kept.txt ]; then cat kept.txt > saw.txt; exit 0; fi\necho committed-work > kept.txt\n",
    );
    await w.drain();
    expect((await w.cli(["promote", "reattach"])).code).toBe(1);
    expect(w.stage("reattach")).toBe("failed");
    const first = w.meta("reattach");
    git(w.repo, "worktree", "remove", first.worktree!.path);
    expect(existsSync(first.worktree!.path)).toBe(false);

    await w.ok(["retry", "reattach"]);
    await w.drain();

    expect(w.stage("reattach")).toBe("review");
    const meta = w.meta("reattach");
    expect(meta.worktree!.path).toBe(first.worktree!.path);
    expect(git(meta.worktree!.path, "symbolic-ref", "--short", "HEAD")).toBe("aq/reattach");
    expect(fileAt(w.repo, "aq/reattach", "saw.txt")).toBe("committed-work");
    expect(git(w.repo, "merge-base", "--is-ancestor", first.wip!.commit, "aq/reattach")).toBe("");
  });

  it("runs a job whose cwd is not in a repository in place, without a worktree or wip", async () => {
    const w = gitWorld();
    const plain = join(w.root, "plain");
    mkdirSync(plain);
    await w.add("plain", { cwd: plain }, "echo here > out.txt\n");
    await w.drain();

    expect(w.stage("plain")).toBe("review");
    const meta = w.meta("plain");
    expect(meta.wip).toBeUndefined();
    expect(meta.worktree).toBeUndefined();
    expect(readFileSync(join(plain, "out.txt"), "utf8")).toBe("here\n");
    expect(branches(w.repo)).toEqual(["main"]);
  });

  // Regression: the subdirectory was relative(git's real toplevel, cwd as written), so a cwd reached
  // through a symlink (macOS /tmp, ~/code -> /data/code) pointed outside the worktree and the job
  // failed as 'engine "shell" is not installed'.
  it("runs (and promotes) a job whose cwd reaches the repository through a symlink in the job's worktree", async () => {
    const w = gitWorld();
    const link = join(w.root, "link-to-repo");
    symlinkSync(w.repo, link);
    mkdirSync(join(w.repo, "sub"));
    writeFileSync(join(w.repo, "sub", "keep.txt"), "sub\n");
    git(w.repo, "add", "-A");
    git(w.repo, "commit", "-q", "-m", "add sub");
    const testPwd = join(w.root, "test-pwd.txt");
    await w.add(
      "linked",
      { cwd: join(link, "sub"), maxAttempts: 1, test: `test -f x.txt && pwd -P > ${testPwd}` },
      `pwd -P > ${join(w.root, "where.txt")}\necho x > x.txt\n`,
    );
    await w.drain();

    expect(w.meta("linked").reason).toBeUndefined();
    expect(w.stage("linked")).toBe("review");
    const tree = w.meta("linked").worktree!.path;
    expect(readFileSync(join(w.root, "where.txt"), "utf8").trim()).toBe(join(tree, "sub"));
    expect(fileAt(w.repo, "aq/linked", "sub/x.txt")).toBe("x");
    expect(statusLines(w.repo)).toEqual([]);

    expect((await w.cli(["promote", "linked"])).code).toBe(0);
    expect(w.stage("linked")).toBe("testing");
    expect(readFileSync(testPwd, "utf8").trim()).toBe(join(tree, "sub"));
  });

  // Regression: a cwd the base commit does not hold (a new or ignored directory) did not exist in the
  // fresh worktree, and the spawn's ENOENT was reported as 'engine "shell" is not installed'.
  it("runs a job whose cwd is a repository directory no commit holds in that directory of its worktree", async () => {
    const w = gitWorld();
    mkdirSync(join(w.repo, "fresh"));
    await w.add("fresh", { cwd: join(w.repo, "fresh"), maxAttempts: 1 }, "pwd -P > where.txt\necho x > x.txt\n");
    await w.drain();

    const meta = w.meta("fresh");
    expect(meta.reason ?? "").not.toMatch(/not installed|not found on PATH/);
    expect(w.stage("fresh")).toBe("review");
    const tree = meta.worktree!.path;
    expect(fileAt(w.repo, "aq/fresh", "fresh/where.txt")).toBe(join(tree, "fresh"));
    expect(filesAt(w.repo, "aq/fresh")).toEqual(["README.md", "fresh/where.txt", "fresh/x.txt"]);
    expect(existsSync(join(w.repo, "fresh", "x.txt"))).toBe(false);
  });

  it("keeps commits the engine made itself on aq/<id>, with what it left uncommitted on top", async () => {
    const w = gitWorld();
    await w.add(
      "selfcommit",
      {},
      "echo a > a.txt\ngit add a.txt\ngit commit -q -m 'the agent committed this'\necho b > b.txt\n",
    );
    await w.drain();

    expect(w.stage("selfcommit")).toBe("review");
    const meta = w.meta("selfcommit");
    expect(meta.wip).toEqual({ branch: "aq/selfcommit", commit: revParse(w.repo, "aq/selfcommit") });
    const log = subjects(w.repo, "main..aq/selfcommit");
    expect(log).toHaveLength(2);
    expect(log[1]).toBe("the agent committed this");
    expect(filesAt(w.repo, "aq/selfcommit")).toEqual(["README.md", "a.txt", "b.txt"]);
    expect(statusLines(meta.worktree!.path)).toEqual([]);
  });

  // Regression (fixed; src/core/job-run.ts, after the engine exits 0): commitAll commits on whatever HEAD the
  // engine left and records wip = {branch: "aq/<id>", commit: HEAD} without checking that HEAD is
  // still on aq/<id>. An agent that runs `git checkout -b x` gets a wip.commit that is not on
  // aq/<id>; `aq ship` then merges aq/<id> (still the base: "Already up to date"), reports
  // "shipped", deletes aq/<id>, and the work never reaches the base branch.
  it("never ships a job without its work when the engine switched its worktree to another branch", async () => {
    const w = gitWorld();
    await w.add("switcher", { test: "true" }, "git checkout -q -b agent-branch\necho work > work.txt\n");
    await w.drain();

    const meta = w.meta("switcher");
    // Whatever aq makes of it, the wip it records is the tip of the branch it names.
    expect(revParse(w.repo, meta.wip!.branch)).toBe(meta.wip!.commit);
    if (w.stage("switcher") === "review") {
      await w.ok(["promote", "switcher"]);
      const shipped = await w.cli(["ship", "switcher"]);
      if (shipped.code === 0) expect(filesAt(w.repo, "main")).toContain("work.txt");
    }
  });
});
