import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { git } from "../helpers/git.ts";
import { gitWorld, subjects } from "../helpers/git-world.ts";

const LOG = "refs/heads/aq-queue";

/** A lock file as a git killed with SIGKILL leaves it: there, and old. */
function staleLock(path: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "");
  const past = new Date(Date.now() - 60_000);
  utimesSync(path, past, past);
}

describe("e2e: git locks a killed git left never wedge the git-queue", () => {
  it("a stale lock on the audit ref is cleared, one in the person's index is left alone (aq never uses that index), a private index lock of an older aq is ignored: every transition is committed and the job keeps its attempts", async () => {
    const w = gitWorld({ queueInGit: true });
    const initial = git(w.home, "rev-parse", "HEAD");
    await w.add("before", {}, "true\n");
    const refLock = join(w.home, ".git", `${LOG}.lock`);
    const personsLock = join(w.home, ".git", "index.lock");
    staleLock(refLock);
    staleLock(personsLock);
    staleLock(join(w.queue, ".aq", "git", "index.lock"));

    await w.add("flaky", { maxAttempts: 10 }, "if [ -f once.txt ]; then exit 0; fi\necho 1 > once.txt\nexit 1\n");
    const run = await w.drain();

    expect(run.stderr).not.toMatch(/could not commit|catch-up .* failed|recovery failed|died while/);
    expect(w.stage("before")).toBe("review");
    expect(w.stage("flaky")).toBe("review");
    expect(w.meta("flaky").attempts).toBe(2);
    expect(subjects(w.home, LOG)).toEqual(
      expect.arrayContaining([
        "aq: flaky → queued",
        "aq: flaky building → failed (engine exited 1)",
        "aq: flaky building → review",
      ]),
    );
    expect(git(w.home, "cat-file", "-e", `${LOG}:queue/review/flaky/meta.json`)).toBe("");
    expect(existsSync(refLock)).toBe(false);
    expect(existsSync(personsLock)).toBe(true);
    expect(git(w.home, "rev-parse", "HEAD")).toBe(initial);
  });
});
