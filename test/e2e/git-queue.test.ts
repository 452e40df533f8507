import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { git } from "../helpers/git.ts";
import { fileAt, filesAt, gitMaybe, gitWorld, statusLines, subjects } from "../helpers/git-world.ts";

/** The audit log's own ref. */
const LOG = "refs/heads/aq-queue";

/** Every file each audit commit touched (the first one: every file it holds), newest first. */
function touchedByCommits(home: string): Array<{ subject: string; files: string[] }> {
  const shas = git(home, "rev-list", LOG).split("\n").filter(Boolean);
  return shas.map((sha) => ({
    subject: git(home, "log", "-1", "--format=%s", sha),
    files: git(home, "show", "--root", "--name-only", "--format=", sha).split("\n").filter(Boolean).sort(),
  }));
}

/** The person's branch, index and working tree are as they were: aq never committed there. */
function untouched(home: string, initial: string): void {
  expect(git(home, "rev-parse", "HEAD")).toBe(initial);
  expect(git(home, "symbolic-ref", "HEAD")).toBe("refs/heads/main");
  // The only untracked file is the test's own config; nothing of the queue shows.
  expect(statusLines(home, "--untracked-files=all")).toEqual(["?? aq.config.json"]);
}

describe("e2e: the offline git-queue (queue directory inside a git work tree)", () => {
  it("commits every transition on its own ref with a message 'aq: <id> from → to', tracks job.md and meta.json but never log.txt, and never touches the person's branch", async () => {
    const w = gitWorld({ queueInGit: true });
    const initial = git(w.home, "rev-parse", "HEAD");
    await w.add("audit", { test: "true" }, "echo engine-output-line\necho x > x.txt\n");
    await w.drain();
    await w.ok(["promote", "audit"]);
    await w.ok(["ship", "audit"]);

    untouched(w.home, initial);
    expect(subjects(w.home, LOG).reverse()).toEqual([
      "aq: audit → queued",
      "aq: audit queued → assigned",
      "aq: audit assigned → building",
      "aq: audit building → review",
      "aq: audit review → testing",
      "aq: audit testing → shipped",
    ]);
    // Each commit holds only this job's files.
    for (const commit of touchedByCommits(w.home)) {
      for (const file of commit.files)
        expect(file, commit.subject).toMatch(/^queue\/[a-z_]+\/audit\/(job\.md|meta\.json)$/);
    }
    expect(filesAt(w.home, LOG)).toEqual(["queue/shipped/audit/job.md", "queue/shipped/audit/meta.json"]);
    expect(git(w.home, "ls-files", "queue")).toBe("");
    // The committed meta is the final one.
    const committed = JSON.parse(fileAt(w.home, LOG, "queue/shipped/audit/meta.json")) as {
      stage: string;
      shipped?: unknown;
    };
    expect(committed.stage).toBe("shipped");
    expect(committed.shipped).toEqual(w.meta("audit").shipped);

    // The log exists on disk but is never tracked; the queue is kept out of the person's status by info/exclude.
    const log = join(w.queue, "shipped", "audit", "log.txt");
    expect(existsSync(log)).toBe(true);
    expect(git(w.home, "check-ignore", log)).toBe(log);
    expect(readFileSync(join(w.home, ".git", "info", "exclude"), "utf8").split("\n")).toContain("/queue/");
    expect(
      git(w.home, "log", "--all", "--format=", "--name-only")
        .split("\n")
        .filter((f) => f.endsWith("log.txt")),
    ).toEqual([]);
    expect(statusLines(w.home, "--untracked-files=all", "--", "queue")).toEqual([]);
  });

  it("never commits an agent's raw stream, even under a .gitignore written by an older aq", async () => {
    const w = gitWorld({
      queueInGit: true,
      config: {
        engines: { "json-agent": { command: ["sh", "{promptFile}"], prompt: "file", output: "claude-stream-json" } },
      },
    });
    mkdirSync(w.queue, { recursive: true });
    writeFileSync(join(w.queue, ".gitignore"), ".aq/\n.worktrees/\n*/*/log.txt\n*/*/prompt.txt\n");
    await w.add(
      "streamed",
      { engine: "json-agent" },
      `echo '{"type":"system","subtype":"init","session_id":"s-raw-1","model":"m-1"}'`,
    );
    await w.drain();

    expect(w.stage("streamed")).toBe("review");
    expect(existsSync(join(w.queue, "review", "streamed", "agent.jsonl"))).toBe(true);
    expect(
      git(w.home, "log", "--all", "--format=", "--name-only")
        .split("\n")
        .filter((f) => f.endsWith("agent.jsonl")),
    ).toEqual([]);
    expect(JSON.parse(fileAt(w.home, LOG, "queue/review/streamed/meta.json")).agent).toMatchObject({
      name: "json-agent",
      sessionId: "s-raw-1",
      model: "m-1",
    });
  });

  it("records a failure and its requeue as commits too", async () => {
    const w = gitWorld({ queueInGit: true });
    const initial = git(w.home, "rev-parse", "HEAD");
    await w.add("flaky", {}, "if [ -f once.txt ]; then exit 0; fi\necho 1 > once.txt\nexit 1\n");
    await w.drain();

    untouched(w.home, initial);
    const transitions = subjects(w.home, LOG).reverse();
    expect(transitions.map((subject) => /^aq: flaky (\w* ?→ \w+)/.exec(subject)?.[1])).toEqual([
      "→ queued",
      "queued → assigned",
      "assigned → building",
      "building → failed",
      "failed → queued",
      "queued → assigned",
      "assigned → building",
      "building → review",
    ]);
    // A transition with a reason says it.
    expect(transitions[3]).toMatch(/^aq: flaky building → failed \(.*exited 1.*\)$/);
  });

  it("never sweeps files a person has staged elsewhere in the repository into aq's commits", async () => {
    const w = gitWorld({ queueInGit: true });
    const initial = git(w.home, "rev-parse", "HEAD");
    writeFileSync(join(w.home, "notes.txt"), "a person's staged work\n");
    git(w.home, "add", "notes.txt");
    writeFileSync(join(w.home, "README.md"), "a person's unstaged edit\n");

    await w.add("tidy", { test: "true" }, "echo y > y.txt\n");
    await w.drain();
    await w.ok(["promote", "tidy"]);
    await w.ok(["ship", "tidy"]);

    expect(subjects(w.home, LOG)).toHaveLength(6);
    expect(git(w.home, "rev-parse", "HEAD")).toBe(initial);
    const touched = touchedByCommits(w.home).flatMap((commit) => commit.files);
    expect(touched).not.toContain("notes.txt");
    expect(touched).not.toContain("README.md");
    // The person's index and working tree are as they left them.
    expect(git(w.home, "diff", "--cached", "--name-only")).toBe("notes.txt");
    expect(git(w.home, "diff", "--name-only")).toBe("README.md");
    expect(gitMaybe(w.home, "cat-file", "-e", "HEAD:notes.txt")).toBeUndefined();
  });

  it("serializes the commits of concurrent jobs: each job's transitions are whole commits of its own files", async () => {
    const w = gitWorld({ queueInGit: true });
    const initial = git(w.home, "rev-parse", "HEAD");
    const ids = ["par-1", "par-2"];
    // Both jobs wait (up to 5 s) until the other is building, so their commits really race.
    const marks = join(w.root, "jobs");
    for (const [id, other] of [
      ["par-1", "par-2"],
      ["par-2", "par-1"],
    ] as const) {
      await w.add(
        id,
        { maxAttempts: 1 },
        `echo ${id} > ${id}.txt\ntouch ${marks}/${id}.started\ni=0\nwhile [ ! -f ${marks}/${other}.started ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\ntest -f ${marks}/${other}.started\n`,
      );
    }
    const run = await w.drain("--concurrency", "2");
    expect(run.stdout.split("\n").filter(Boolean).sort()).toEqual(ids.map((id) => `${id}\treview`));

    untouched(w.home, initial);
    const all = subjects(w.home, LOG);
    expect(all).toHaveLength(ids.length * 4);
    for (const id of ids) {
      expect(all.filter((s) => s.startsWith(`aq: ${id} `)).reverse()).toEqual([
        `aq: ${id} → queued`,
        `aq: ${id} queued → assigned`,
        `aq: ${id} assigned → building`,
        `aq: ${id} building → review`,
      ]);
    }
    for (const commit of touchedByCommits(w.home)) {
      const id = /^aq: (par-\d) /.exec(commit.subject)![1]!;
      expect(commit.files.length, commit.subject).toBeGreaterThan(0);
      for (const file of commit.files)
        expect(file, commit.subject).toMatch(new RegExp(`^queue/[a-z_]+/${id}/(job\\.md|meta\\.json)$`));
    }
    expect(filesAt(w.home, LOG)).toEqual(
      ids.flatMap((id) => [`queue/review/${id}/job.md`, `queue/review/${id}/meta.json`]),
    );
  });

  it("runs, ships and records a job whose cwd is the very repository that holds the queue", async () => {
    const w = gitWorld({ queueInGit: true });
    const initial = git(w.home, "rev-parse", "HEAD");
    await w.add("inside", { cwd: w.home, test: "test -f feature.txt" }, "echo feature > feature.txt\n");
    await w.drain();
    const { worktree, wip } = w.meta("inside");
    expect(worktree).toMatchObject({ repo: w.home, baseBranch: "main" });
    expect(existsSync(join(w.home, "feature.txt"))).toBe(false);
    await w.ok(["promote", "inside"]);
    expect((await w.cli(["ship", "inside"])).code).toBe(0);

    expect(w.stage("inside")).toBe("shipped");
    const shipped = w.meta("inside").shipped!;
    // The merge landed in the checked-out main, and the queue's last transition was committed on its own ref.
    expect(git(w.home, "rev-parse", "HEAD")).toBe(shipped.commit);
    expect(git(w.home, "rev-parse", `${shipped.commit}^2`)).toBe(wip!.commit);
    expect(subjects(w.home, LOG, "-1")).toEqual(["aq: inside testing → shipped"]);
    expect(readFileSync(join(w.home, "feature.txt"), "utf8")).toBe("feature\n");
    expect(git(w.home, "ls-files").split("\n").sort()).toEqual(["README.md", "feature.txt"]);
    // The job's worktree (branched from main) never held the queue: no prompt reached the engine's tree.
    expect(git(w.home, "ls-tree", "-r", "--name-only", wip!.commit).split("\n").sort()).toEqual([
      "README.md",
      "feature.txt",
    ]);
    expect(filesAt(w.home, LOG)).toEqual(["queue/shipped/inside/job.md", "queue/shipped/inside/meta.json"]);
    expect(git(w.home, "status", "--porcelain", "--untracked-files=no")).toBe("");
    expect(existsSync(worktree!.path)).toBe(false);
    expect(git(w.home, "branch", "--list", "aq/*")).toBe("");
    expect(subjects(w.home, `${initial}..HEAD`, "--first-parent")).toEqual(["aq: ship inside"]);
  });
});
