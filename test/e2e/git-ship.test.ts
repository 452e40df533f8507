import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/cli.ts";
import { git } from "../helpers/git.ts";
import { logOf, pathOf } from "../helpers/jobs.ts";
import {
  branches,
  commitFile,
  errorLines,
  fileAt,
  filesAt,
  gitMaybe,
  gitWorld,
  parentsOf,
  revParse,
  statusLines,
  worktreePaths,
} from "../helpers/git-world.ts";

describe("e2e: aq promote runs the job's test in its worktree", () => {
  it("moves a job whose test passes to testing (exit 0), the test running in the job's worktree", async () => {
    const w = gitWorld();
    const pwdFile = join(w.root, "test-pwd.txt");
    await w.add("pass", { test: `test -f new.txt && pwd -P > ${pwdFile} && echo TEST-RAN` }, "echo new > new.txt\n");
    await w.drain();
    const tree = w.meta("pass").worktree!.path;

    const result = await w.cli(["promote", "pass"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^pass: testing\b.*\n$/);
    expect(w.stage("pass")).toBe("testing");
    expect(pathOf(w.meta("pass")).slice(-2)).toEqual(["review", "testing"]);
    expect(readFileSync(pwdFile, "utf8").trim()).toBe(tree);
    expect(logOf(w.queue, "pass")).toContain("TEST-RAN");
  });

  it("moves a job whose test fails to failed (exit 1) with a reason naming the test", async () => {
    const w = gitWorld();
    await w.add("red", { test: "echo TEST-SAYS-NO && exit 4" }, "echo new > new.txt\n");
    await w.drain();

    const result = await w.cli(["promote", "red"]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^red: failed\b.*echo TEST-SAYS-NO && exit 4.*\n$/);
    expect(w.stage("red")).toBe("failed");
    const meta = w.meta("red");
    expect(meta.reason).toMatch(/^test failed\b.*exited 4.*: echo TEST-SAYS-NO && exit 4$/);
    expect(pathOf(meta).slice(-3)).toEqual(["review", "testing", "failed"]);
    expect(logOf(w.queue, "red")).toContain("TEST-SAYS-NO");
    // A failed test does not throw away the work.
    expect(fileAt(w.repo, "aq/red", "new.txt")).toBe("new");
  });

  it("refuses to promote a job that is not in review with one line and a non-zero exit, leaving it where it is", async () => {
    const w = gitWorld();
    await w.add("early", { test: "true" }, "echo new > new.txt\n");

    const result = await w.cli(["promote", "early"]);
    expect([1, 2]).toContain(result.code);
    expect(result.stdout).toBe("");
    expect(errorLines(result)).toHaveLength(1);
    expect(result.stderr).toMatch(/^aq: .*early.*queued/);
    expect(w.stage("early")).toBe("queued");
    expect(pathOf(w.meta("early"))).toEqual(["queued"]);
  });
});

describe("e2e: aq ship merges the job's branch into its base branch", () => {
  it("merges aq/<id> into the checked-out base branch, so the file appears in the main working tree, then removes worktree and branch", async () => {
    const w = gitWorld();
    await w.add("ship", { test: "test -f feature.txt" }, "echo feature > feature.txt\n");
    await w.drain();
    await w.ok(["promote", "ship"]);
    const { wip, worktree } = w.meta("ship");
    // Meanwhile a person commits to main: shipping must merge, not reset.
    const personal = commitFile(w.repo, "later.txt", "later\n");

    const result = await w.cli(["ship", "ship"]);
    expect(result.code).toBe(0);
    expect(w.stage("ship")).toBe("shipped");
    const meta = w.meta("ship");
    const main = revParse(w.repo, "main");
    expect(result.stdout).toMatch(new RegExp(`^ship: shipped\\b.*aq/ship.*main.*${main.slice(0, 12)}.*\\n$`));
    expect(meta.shipped).toEqual({ commit: main, into: "main" });
    expect(pathOf(meta).slice(-3)).toEqual(["review", "testing", "shipped"]);
    expect(parentsOf(w.repo, main)).toEqual([personal, wip!.commit]);

    // The main working tree follows the merge and is clean.
    expect(readFileSync(join(w.repo, "feature.txt"), "utf8")).toBe("feature\n");
    expect(readFileSync(join(w.repo, "later.txt"), "utf8")).toBe("later\n");
    expect(statusLines(w.repo)).toEqual([]);
    expect(git(w.repo, "symbolic-ref", "--short", "HEAD")).toBe("main");

    // The worktree and the branch are gone.
    expect(existsSync(worktree!.path)).toBe(false);
    expect(worktreePaths(w.repo)).toEqual([w.repo]);
    expect(branches(w.repo)).toEqual(["main"]);
  });

  it("refuses to ship a job in review without --force (one line, non-zero, nothing merged) and ships it with --force", async () => {
    const w = gitWorld();
    await w.add("quick", {}, "echo quick > quick.txt\n");
    await w.drain();
    const before = revParse(w.repo, "main");
    const { wip, worktree } = w.meta("quick");

    const refused = await w.cli(["ship", "quick"]);
    expect([1, 2]).toContain(refused.code);
    expect(refused.stdout).toBe("");
    expect(errorLines(refused)).toHaveLength(1);
    expect(refused.stderr).toMatch(/^aq: .*quick.*review/);
    expect(w.stage("quick")).toBe("review");
    expect(revParse(w.repo, "main")).toBe(before);
    expect(existsSync(join(w.repo, "quick.txt"))).toBe(false);
    expect(revParse(w.repo, "aq/quick")).toBe(wip!.commit);
    expect(existsSync(worktree!.path)).toBe(true);

    const forced = await w.cli(["ship", "quick", "--force"]);
    expect(forced.code).toBe(0);
    expect(w.stage("quick")).toBe("shipped");
    const main = revParse(w.repo, "main");
    expect(w.meta("quick").shipped).toEqual({ commit: main, into: "main" });
    expect(parentsOf(w.repo, main)).toEqual([before, wip!.commit]);
    expect(readFileSync(join(w.repo, "quick.txt"), "utf8")).toBe("quick\n");
    expect(pathOf(w.meta("quick")).slice(-2)).toEqual(["review", "shipped"]);
    expect(branches(w.repo)).toEqual(["main"]);
    expect(existsSync(worktree!.path)).toBe(false);
  });

  it("merges into the base branch ref when it is checked out nowhere, leaving the branch that is checked out untouched", async () => {
    const w = gitWorld();
    const go = join(w.root, "go");
    // The job waits for a signal, so the person can switch branches while it builds.
    await w.add(
      "detached",
      {},
      `i=0\nwhile [ ! -f ${go} ] && [ $i -lt 200 ]; do sleep 0.025; i=$((i+1)); done\necho shipped-content > shipped.txt\n`,
    );
    const base = revParse(w.repo, "main");
    const runner = w.start(["run", "--once"]);
    await waitFor(() => w.stage("detached") === "building", 10_000, "the job to be building");
    git(w.repo, "switch", "-q", "-c", "elsewhere");
    const other = commitFile(w.repo, "elsewhere.txt", "elsewhere\n");
    writeFileSync(go, "");
    expect((await runner.exited).code).toBe(0);
    expect(w.stage("detached")).toBe("review");
    expect(w.meta("detached").worktree!.baseBranch).toBe("main");

    await w.ok(["promote", "detached"]);
    const wip = w.meta("detached").wip!;
    const result = await w.cli(["ship", "detached"]);
    expect(result.code).toBe(0);

    const main = revParse(w.repo, "main");
    expect(w.meta("detached").shipped).toEqual({ commit: main, into: "main" });
    expect(parentsOf(w.repo, main)).toEqual([base, wip.commit]);
    expect(filesAt(w.repo, "main")).toEqual(["README.md", "shipped.txt"]);
    expect(fileAt(w.repo, "main", "shipped.txt")).toBe("shipped-content");

    // The checked-out branch, its working tree and index are untouched.
    expect(git(w.repo, "symbolic-ref", "--short", "HEAD")).toBe("elsewhere");
    expect(revParse(w.repo, "elsewhere")).toBe(other);
    expect(existsSync(join(w.repo, "shipped.txt"))).toBe(false);
    expect(statusLines(w.repo)).toEqual([]);
    expect(branches(w.repo)).toEqual(["elsewhere", "main"]);
  });

  it("ships changes a person made in the job's worktree during review along with the job's own", async () => {
    const w = gitWorld();
    await w.add("touched", {}, "echo by-the-agent > agent.txt\n");
    await w.drain();
    const tree = w.meta("touched").worktree!.path;
    writeFileSync(join(tree, "person.txt"), "by-a-person\n");
    await w.ok(["promote", "touched"]);

    expect((await w.cli(["ship", "touched"])).code).toBe(0);
    expect(w.stage("touched")).toBe("shipped");
    expect(filesAt(w.repo, "main")).toEqual(["README.md", "agent.txt", "person.txt"]);
    expect(readFileSync(join(w.repo, "person.txt"), "utf8")).toBe("by-a-person\n");
    expect(statusLines(w.repo)).toEqual([]);
  });

  it("keeps a person's uncommitted changes in the main working tree when shipping into the branch checked out there", async () => {
    const w = gitWorld();
    commitFile(w.repo, "notes.txt", "v1\n");
    await w.add("alongside", {}, "echo feature > feature.txt\n");
    await w.drain();
    await w.ok(["promote", "alongside"]);
    writeFileSync(join(w.repo, "notes.txt"), "v2, not committed\n");
    writeFileSync(join(w.repo, "scratch.txt"), "untracked\n");

    expect((await w.cli(["ship", "alongside"])).code).toBe(0);
    expect(w.stage("alongside")).toBe("shipped");
    expect(readFileSync(join(w.repo, "feature.txt"), "utf8")).toBe("feature\n");
    expect(readFileSync(join(w.repo, "notes.txt"), "utf8")).toBe("v2, not committed\n");
    expect(readFileSync(join(w.repo, "scratch.txt"), "utf8")).toBe("untracked\n");
    expect(statusLines(w.repo).sort()).toEqual([" M notes.txt", "?? scratch.txt"]);
    expect(fileAt(w.repo, "main", "notes.txt")).toBe("v1");
  });

  it("refuses to ship over a person's uncommitted edit of a file the job changed, keeping the edit and the job in testing", async () => {
    const w = gitWorld();
    await w.add("overwrite", {}, "echo 'the job says this' > README.md\n");
    await w.drain();
    await w.ok(["promote", "overwrite"]);
    const before = revParse(w.repo, "main");
    writeFileSync(join(w.repo, "README.md"), "a person is typing\n");

    const result = await w.cli(["ship", "overwrite"]);
    expect(result.code).toBe(1);
    expect(errorLines(result)).toHaveLength(1);
    expect(result.stderr).toMatch(/^aq: .*aq\/overwrite.*main/);
    expect(w.stage("overwrite")).toBe("testing");
    expect(revParse(w.repo, "main")).toBe(before);
    expect(readFileSync(join(w.repo, "README.md"), "utf8")).toBe("a person is typing\n");
    expect(statusLines(w.repo)).toEqual([" M README.md"]);
    expect(revParse(w.repo, "aq/overwrite")).toBe(w.meta("overwrite").wip!.commit);
  });

  it("refuses to ship a job that started on a detached HEAD (no base branch) with one line, leaving it in testing", async () => {
    const w = gitWorld();
    git(w.repo, "checkout", "-q", "--detach");
    const head = revParse(w.repo, "HEAD");
    await w.add("headless", {}, "echo x > x.txt\n");
    await w.drain();
    expect(w.meta("headless").worktree).toMatchObject({ baseBranch: "", baseCommit: head });
    await w.ok(["promote", "headless"]);

    const result = await w.cli(["ship", "headless"]);
    expect(result.code).toBe(1);
    expect(errorLines(result)).toHaveLength(1);
    expect(result.stderr).toMatch(/^aq: .*headless.*detached HEAD/);
    expect(w.stage("headless")).toBe("testing");
    expect(revParse(w.repo, "main")).toBe(head);
    expect(branches(w.repo)).toEqual(["aq/headless", "main"]);
  });

  for (const where of ["checked out in the main worktree", "checked out nowhere"] as const) {
    it(`refuses a ship that conflicts with the base branch (${where}): one line, non-zero, job stays in testing, base unchanged`, async () => {
      const w = gitWorld();
      await w.add("clash", {}, "echo 'the job says this' > README.md\n");
      await w.drain();
      await w.ok(["promote", "clash"]);
      const { wip, worktree } = w.meta("clash");
      const moved = commitFile(w.repo, "README.md", "a person says that\n");
      if (where === "checked out nowhere") git(w.repo, "switch", "-q", "-c", "aside");
      const head = revParse(w.repo, "HEAD");

      const result = await w.cli(["ship", "clash"]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe("");
      expect(errorLines(result)).toHaveLength(1);
      expect(result.stderr).toMatch(/^aq: .*aq\/clash.*main/);

      expect(w.stage("clash")).toBe("testing");
      expect(w.meta("clash").shipped).toBeUndefined();
      expect(revParse(w.repo, "main")).toBe(moved);
      expect(revParse(w.repo, "HEAD")).toBe(head);
      expect(readFileSync(join(w.repo, "README.md"), "utf8")).toBe("a person says that\n");
      expect(statusLines(w.repo)).toEqual([]);
      expect(gitMaybe(w.repo, "rev-parse", "--verify", "--quiet", "MERGE_HEAD")).toBeUndefined();
      // The job's work is all still there to resolve and ship again.
      expect(revParse(w.repo, "aq/clash")).toBe(wip!.commit);
      expect(existsSync(worktree!.path)).toBe(true);
      expect(fileAt(w.repo, "aq/clash", "README.md")).toBe("the job says this");
    });
  }

  // Regression: where the base branch is checked out, the failed `git merge` was reported with git's
  // first output line, "Auto-merging README.md", which never said there was a conflict.
  it("says in its one-line reason that the ship conflicts, naming the file, when the base branch is checked out", async () => {
    const w = gitWorld();
    await w.add("clash", {}, "echo 'the job says this' > README.md\n");
    await w.drain();
    await w.ok(["promote", "clash"]);
    commitFile(w.repo, "README.md", "a person says that\n");

    const result = await w.cli(["ship", "clash"]);
    expect(result.code).toBe(1);
    expect(errorLines(result)).toHaveLength(1);
    expect(result.stderr).toMatch(/conflict/i);
    expect(result.stderr).toContain("README.md");
  });

  it("ships a job whose worktree a person already removed, from its branch", async () => {
    const w = gitWorld();
    await w.add("treeless", { test: "true" }, "echo job > job.txt\n");
    await w.drain();
    await w.ok(["promote", "treeless"]);
    const { worktree, wip } = w.meta("treeless");
    git(w.repo, "worktree", "remove", worktree!.path);

    expect((await w.cli(["ship", "treeless"])).code).toBe(0);
    expect(w.stage("treeless")).toBe("shipped");
    expect(parentsOf(w.repo, "main")[1]).toBe(wip!.commit);
    expect(readFileSync(join(w.repo, "job.txt"), "utf8")).toBe("job\n");
    expect(branches(w.repo)).toEqual(["main"]);
  });

  // Regression (fixed; src/core/worktree.ts mergeBranch, checked-out path): when a person is in the middle of their
  // own merge in the worktree where the base branch is checked out, aq's `git merge` fails and the
  // catch runs `git merge --abort`, which aborts the PERSON's merge: their half-done conflict
  // resolution and the files they had staged are thrown away, and the one-line reason claims a
  // conflict of aq/<id> and that "nothing was changed".
  it("refuses to ship into a checked-out base branch where a person's own merge is in progress, leaving that merge untouched", async () => {
    const w = gitWorld();
    await w.add("midmerge", { test: "true" }, "echo job > job.txt\n");
    await w.drain();
    await w.ok(["promote", "midmerge"]);
    // A person's conflicting merge, half resolved, in the main checkout.
    git(w.repo, "switch", "-q", "-c", "side");
    const side = commitFile(w.repo, "README.md", "side\n");
    git(w.repo, "switch", "-q", "main");
    const main = commitFile(w.repo, "README.md", "main\n");
    expect(gitMaybe(w.repo, "merge", "side")).toBeUndefined();
    writeFileSync(join(w.repo, "README.md"), "half resolved by a person\n");
    writeFileSync(join(w.repo, "added.txt"), "staged during the merge\n");
    git(w.repo, "add", "added.txt");
    const before = statusLines(w.repo).sort();
    expect(before).toEqual(["A  added.txt", "UU README.md"]);

    const result = await w.cli(["ship", "midmerge"]);
    expect(result.code).toBe(1);
    expect(errorLines(result)).toHaveLength(1);
    expect(w.stage("midmerge")).toBe("testing");
    expect(revParse(w.repo, "main")).toBe(main);
    expect(revParse(w.repo, "MERGE_HEAD")).toBe(side);
    expect(readFileSync(join(w.repo, "README.md"), "utf8")).toBe("half resolved by a person\n");
    expect(readFileSync(join(w.repo, "added.txt"), "utf8")).toBe("staged during the merge\n");
    expect(statusLines(w.repo).sort()).toEqual(before);
  });
});
