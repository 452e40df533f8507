import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { startAq, waitFor } from "../helpers/cli.ts";
import { stageOf } from "../helpers/jobs.ts";
import { cliProject, expectOneLine, requireBuild, storeOf } from "../helpers/store-cli.ts";
import { addJob } from "../helpers/store-fixtures.ts";

beforeAll(requireBuild);

const SEPARATOR = /^──── aq · attempt (\d+) · \d{4}-\d\d-\d\dT[\d:.]+Z · engine shell ────$/;

describe("aq logs", () => {
  it("-f follows a running job's log as it grows and returns once the job comes to rest", async () => {
    const project = cliProject();
    const gate = join(project.dir, "go-on");
    await addJob(
      await storeOf(project.queue),
      "slow-job",
      { engine: "shell" },
      `echo "first half"\nwhile [ ! -e '${gate}' ]; do sleep 0.05; done\necho "second half"`,
    );
    const runner = startAq(["run", "--once"], { cwd: project.dir, timeoutMs: 60_000 });
    await waitFor(() => stageOf(project.queue, "slow-job") === "building", 15_000, "the job to be building");
    const follower = startAq(["logs", "slow-job", "-f"], { cwd: project.dir, timeoutMs: 60_000 });
    await waitFor(() => follower.output().stdout.includes("first half\n"), 15_000, "the first half in aq logs -f");
    expect(follower.output().stdout).not.toContain("second half");
    expect(follower.exitCode).toBeNull(); // still following

    writeFileSync(gate, "");
    const followed = await follower.exited;
    expect(followed.code, followed.stderr).toBe(0);
    const lines = followed.stdout.split("\n");
    expect(lines[0]).toMatch(SEPARATOR);
    expect(lines.slice(1)).toEqual(["first half", "second half", ""]);
    expect(followed.stderr).toBe("aq logs: slow-job is review\n");
    expect((await runner.exited).code).toBe(0);
  });

  it("separates attempts, and --attempt N prints only that one", async () => {
    const project = cliProject();
    const marker = join(project.dir, "tried-once");
    await addJob(
      await storeOf(project.queue),
      "flaky",
      { engine: "shell" },
      `if [ -e '${marker}' ]; then echo "second try works"; else touch '${marker}'; echo "first try breaks"; exit 1; fi`,
    );
    const ran = await startAq(["run", "--drain"], { cwd: project.dir, timeoutMs: 60_000 }).exited;
    expect(ran.code, ran.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(stageOf(project.queue, "flaky")).toBe("review");

    const all = await project.run(["logs", "flaky"]);
    expect(all.code, all.stderr).toBe(0);
    const lines = all.stdout.trimEnd().split("\n");
    expect(lines.map((line) => SEPARATOR.exec(line)?.[1] ?? line)).toEqual([
      "1",
      "first try breaks",
      "2",
      "second try works",
    ]);
    const second = await project.run(["logs", "flaky", "--attempt", "2"]);
    expect(
      second.stdout
        .trimEnd()
        .split("\n")
        .map((line) => SEPARATOR.exec(line)?.[1] ?? line),
    ).toEqual(["2", "second try works"]);

    // aq status ID says how long each attempt took and how it ended, and points here.
    const status = await project.run(["status", "flaky"]);
    expect(status.stdout).toMatch(
      /waited in the queue \S+, built \S+ in 2 attempt\(s\): #1 \S+ → failed, #2 \S+ → review\n/,
    );
    expect(status.stdout).toContain("read it with: aq logs flaky\n");
    const missing = await project.run(["logs", "flaky", "--attempt", "3"]);
    expect(missing.code).toBe(1);
    expect(expectOneLine(missing.stderr)).toBe("aq logs: flaky has no attempt 3 in its log (attempts: 1, 2)");
    const bad = await project.run(["logs", "flaky", "--attempt", "two"]);
    expect(bad.code).toBe(2);
    expectOneLine(bad.stderr);
    const unknown = await project.run(["logs", "no-such-job"]);
    expect(unknown.code).not.toBe(0);
    expectOneLine(unknown.stderr);
  }, 90_000); // eight CLI runs: slow on a busy machine
});
