import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq } from "../helpers/cli.ts";
import { git, gitRepo } from "../helpers/git.ts";
import { statusLines, subjects } from "../helpers/git-world.ts";
import { tempDir } from "../helpers/temp.ts";

describe("e2e: the README's first job, inside a project repository, with no config at all", () => {
  it("works end to end; the project's branch gains only the ship's merge, its status stays clean, and no engine sees another job's prompt", {
    timeout: 150_000,
  }, async () => {
    const project = gitRepo(join(tempDir("aq-first-"), "project"));
    const initial = git(project, "rev-parse", "HEAD");
    const run = (args: string[]) => aq(args, { cwd: project, timeoutMs: 60_000 });
    const ok = async (args: string[]) => {
      const result = await run(args);
      expect(result.code, `aq ${args.join(" ")}: ${result.stderr}`).toBe(0);
      return result;
    };
    // The README's hello.md, its cwd this project; then a second job that looks for other jobs' prompts.
    writeFileSync(
      join(project, "..", "hello.md"),
      `---\nengine: shell\ncwd: ${project}\ntimeout: 5m\ntest: test -f hello.txt\n---\necho "hello from aq" > hello.txt\n`,
    );
    const seen = join(project, "..", "seen.txt");
    writeFileSync(
      join(project, "..", "snoop.md"),
      `---\nengine: shell\ncwd: ${project}\n---\n# SNOOP-PROMPT\ngrep -rl --exclude-dir=.git -e 'hello from aq' -e SNOOP-PROMPT . > "${seen}" || true\nfind . -name job.md -not -path './.git/*' >> "${seen}"\n`,
    );

    expect((await ok(["add", "../hello.md", "--id", "hello"])).stdout).toBe("hello\n");
    expect((await ok(["run", "--once"])).stdout).toBe("hello\treview\n");
    expect((await ok(["add", "../snoop.md", "--id", "snoop"])).stdout).toBe("snoop\n");
    expect((await ok(["run", "--once"])).stdout).toBe("snoop\treview\n");
    expect(readFileSync(seen, "utf8")).toBe("");

    // Before the ship the project's branch and status are exactly as the person left them.
    expect(git(project, "rev-parse", "HEAD")).toBe(initial);
    expect(statusLines(project, "--untracked-files=all")).toEqual([]);
    expect((await ok(["status", "hello"])).stdout).toContain("aq/hello");
    await ok(["promote", "hello"]);
    await ok(["ship", "hello"]);

    expect(subjects(project, `${initial}..HEAD`, "--first-parent")).toEqual(["aq: ship hello"]);
    expect(git(project, "ls-tree", "-r", "--name-only", "HEAD").split("\n").sort()).toEqual(["README.md", "hello.txt"]);
    expect(statusLines(project, "--untracked-files=all")).toEqual([]);
    expect(existsSync(join(project, "queue", "shipped", "hello", "job.md"))).toBe(true);
    // The audit log holds every transition of both jobs on its own ref.
    expect(subjects(project, "refs/heads/aq-queue")).toContain("aq: hello testing → shipped");
    expect(git(project, "ls-tree", "-r", "--name-only", "refs/heads/aq-queue").split("\n").sort()).toEqual([
      "queue/review/snoop/job.md",
      "queue/review/snoop/meta.json",
      "queue/shipped/hello/job.md",
      "queue/shipped/hello/meta.json",
    ]);
  });
});
