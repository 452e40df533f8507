import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { idsIn, metaOf, pathOf } from "../helpers/jobs.ts";
import {
  enqueue,
  entriesTo,
  intervalOf,
  linesOf,
  maxOverlap,
  meetScript,
  runnerIdOf,
  runnerSetup,
  spawnAq,
  timedScript,
} from "../helpers/runner-e2e.ts";

describe("aq run: several runners on one queue", () => {
  it("three racing runners run every job exactly once, and every job ends in review", async () => {
    const { dir, queue } = runnerSetup();
    const ran = join(dir, "ran.txt");
    const ids = Array.from({ length: 24 }, (_, i) => `job-${String(i + 1).padStart(2, "0")}`);
    await enqueue(
      queue,
      ids.map((id) => ({ id, body: `echo "$AQ_JOB_ID" >> "${ran}"\nsleep 0.1` })),
    );

    const runners = [0, 1, 2].map(() => spawnAq(dir, ["run", "--drain", "--concurrency", "2"]));
    const results = await Promise.all(runners.map((runner) => runner.exited));

    for (const result of results) expect(result).toMatchObject({ code: 0, signal: null });
    expect(linesOf(ran).sort()).toEqual(ids);
    expect(idsIn(queue, "review")).toEqual(ids);
    for (const stage of ["queued", "assigned", "building", "failed", "dead_letter"] as const)
      expect(idsIn(queue, stage)).toEqual([]);
    // Each job was claimed once, and reported once, by one of the three runners.
    const runnerIds = runners.map((runner) => runnerIdOf(runner.pid!));
    const claimedBy = new Set<string>();
    for (const id of ids) {
      const meta = metaOf(queue, id);
      expect(meta.attempts).toBe(1);
      expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "review"]);
      const by = entriesTo(meta, "assigned")[0]!.by;
      expect(runnerIds).toContain(by);
      expect(meta.history.slice(1).every((entry) => entry.by === by)).toBe(true);
      claimedBy.add(by);
    }
    const reported = results.flatMap((result) => result.stdout.split("\n").filter(Boolean)).sort();
    expect(reported).toEqual(ids.map((id) => `${id}\treview`));
    // It was a race: more than one runner won jobs.
    expect(claimedBy.size).toBeGreaterThanOrEqual(2);
  });

  it("jobs with the same named lock never run at the same time, across processes and slots", async () => {
    const { dir, queue } = runnerSetup();
    const ids = ["db-1", "db-2", "db-3", "db-4"];
    await enqueue(
      queue,
      ids.map((id) => ({ id, frontmatter: { lock: "database" }, body: timedScript(dir, 0.3) })),
    );

    const runners = [0, 1].map(() => spawnAq(dir, ["run", "--drain", "--concurrency", "2"]));
    const results = await Promise.all(runners.map((runner) => runner.exited));

    for (const result of results) expect(result).toMatchObject({ code: 0, signal: null });
    expect(idsIn(queue, "review")).toEqual(ids);
    const intervals = ids.map((id) => intervalOf(dir, id)).sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < intervals.length; i++) {
      const [before, after] = [intervals[i - 1]!, intervals[i]!];
      expect(after.start >= before.end, `${after.id} started before ${before.id} ended`).toBe(true);
    }
    expect(maxOverlap(intervals)).toBe(1);
  });

  it("jobs with different named locks run at the same time", async () => {
    const { dir, queue } = runnerSetup();
    // Each waits for the other to start: they meet only if both run at once.
    await enqueue(queue, [
      { id: "on-a", frontmatter: { lock: "lock-a" }, body: meetScript(dir, "on-b") },
      { id: "on-b", frontmatter: { lock: "lock-b" }, body: meetScript(dir, "on-a") },
    ]);

    const result = await spawnAq(dir, ["run", "--drain", "--concurrency", "2"]).exited;

    expect(result.code).toBe(0);
    expect(idsIn(queue, "review")).toEqual(["on-a", "on-b"]);
    expect(existsSync(join(dir, "on-a.met"))).toBe(true);
    expect(existsSync(join(dir, "on-b.met"))).toBe(true);
    expect(maxOverlap([intervalOf(dir, "on-a"), intervalOf(dir, "on-b")])).toBe(2);
  });
});
