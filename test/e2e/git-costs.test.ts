import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { aq } from "../helpers/cli.ts";
import { gitWorld } from "../helpers/git-world.ts";
import { expectBackoffKept } from "../crash/world.ts";

/** A `git` first on PATH that counts its calls (one line each in `calls`) and runs the real one. */
function countingGit(dir: string): { path: string; calls: () => number } {
  const real = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
  const bin = join(dir, "counting-git");
  mkdirSync(bin);
  const log = join(dir, "git-calls");
  writeFileSync(log, "");
  writeFileSync(join(bin, "git"), `#!/bin/sh\necho "$*" >> "${log}"\nexec "${real}" "$@"\n`);
  chmodSync(join(bin, "git"), 0o755);
  return {
    path: `${bin}:${process.env.PATH}`,
    calls: () => readFileSync(log, "utf8").split("\n").filter(Boolean).length,
  };
}

describe("e2e: what the git-queue with worktrees costs", () => {
  it("a job costs at most 10 git processes from its aq add to review (each transition's commit, its worktree, its wip commit)", async () => {
    const w = gitWorld({ queueInGit: true });
    const counter = countingGit(w.root);
    const jobs = 3;
    for (let i = 0; i < jobs; i++) {
      const file = join(w.root, "jobs", `j${i}.md`);
      writeFileSync(file, `---\nengine: shell\ncwd: ${JSON.stringify(w.repo)}\n---\necho ${i} > out.txt\n`);
      const added = await aq(["add", file, "--id", `j${i}`], { cwd: w.home, env: { PATH: counter.path } });
      expect(added.code, added.stderr).toBe(0);
    }
    const run = await aq(["run", "--drain"], { cwd: w.home, env: { PATH: counter.path } });
    expect(run.code, run.stderr).toBe(0);
    for (let i = 0; i < jobs; i++) expect(w.stage(`j${i}`)).toBe("review");
    // It was about 30 when each transition was four git processes and a worktree nine.
    expect(counter.calls() / jobs).toBeLessThanOrEqual(10);
  });

  it("a retry waits out its backoff even with a slot free (--concurrency 2)", async () => {
    const w = gitWorld({ queueInGit: true, config: { retry: { backoff: "1500ms", maxBackoff: "1500ms" } } });
    await w.add("flaky", {}, "if [ -f once.txt ]; then exit 0; fi\necho 1 > once.txt\nexit 1\n");
    await w.drain("--concurrency", "2");
    expect(w.stage("flaky")).toBe("review");
    const meta = w.meta("flaky");
    expect(meta.attempts).toBe(2);
    expect(meta.history.some((entry) => /retry 2 of \d+ in 1\.5s/.test(entry.reason ?? ""))).toBe(true);
    expectBackoffKept(meta);
  });
});
