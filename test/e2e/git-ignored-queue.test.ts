import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { git, gitRepo } from "../helpers/git.ts";
import { statusLines, subjects } from "../helpers/git-world.ts";
import { aq } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

describe("e2e: a queue directory the project's .gitignore ignores", () => {
  it("aq add and aq run --once work as anywhere else: exit 0, the job reaches review, every transition on the audit ref, the project's branch untouched", async () => {
    const project = gitRepo(join(tempDir("aq-ignored-"), "project"), {
      "README.md": "# a project that ignores its queue\n",
      ".gitignore": "/queue/\nnode_modules/\n",
    });
    const initial = git(project, "rev-parse", "HEAD");
    const job = join(project, "..", "hello.md");
    writeFileSync(job, `---\nengine: shell\ncwd: ${project}\n---\necho hello > hello.txt\n`);

    const added = await aq(["add", job, "--id", "hello"], { cwd: project });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).not.toMatch(/git add failed|pathspec/);
    const run = await aq(["run", "--once"], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("hello\treview\n");

    expect(subjects(project, "refs/heads/aq-queue").reverse()).toEqual([
      "aq: hello → queued",
      "aq: hello queued → assigned",
      "aq: hello assigned → building",
      "aq: hello building → review",
    ]);
    expect(git(project, "rev-parse", "HEAD")).toBe(initial);
    expect(statusLines(project, "--untracked-files=all")).toEqual([]);
  });
});
