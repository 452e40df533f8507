import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { waitFor } from "../helpers/cli.ts";
import { idsIn, logOf, metaOf, pathOf, stageOf } from "../helpers/jobs.ts";
import {
  at,
  enqueue,
  entriesTo,
  intervalOf,
  linesOf,
  maxOverlap,
  meetScript,
  runAq,
  runnerIdOf,
  runnerSetup,
  settledIn,
  spawnAq,
} from "../helpers/runner-e2e.ts";

const REVIEW_PATH = ["queued", "assigned", "building", "review"];

describe("aq run: one job, all jobs, in order", () => {
  it("--once runs exactly one job (the oldest) to review and leaves the rest queued", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [
      { id: "first", body: `echo first >> "${dir}/ran.txt"` },
      { id: "second", body: `echo second >> "${dir}/ran.txt"` },
      { id: "third", body: `echo third >> "${dir}/ran.txt"` },
    ]);

    const result = await runAq(dir, ["run", "--once"]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe("first\treview\n");
    expect(linesOf(join(dir, "ran.txt"))).toEqual(["first"]);
    expect(idsIn(queue, "review")).toEqual(["first"]);
    expect(idsIn(queue, "queued")).toEqual(["second", "third"]);
    expect(pathOf(metaOf(queue, "first"))).toEqual(REVIEW_PATH);
    for (const id of ["second", "third"]) {
      expect(metaOf(queue, id)).toMatchObject({ stage: "queued", attempts: 0 });
      expect(pathOf(metaOf(queue, id))).toEqual(["queued"]);
    }
  });

  it("--once on an empty queue exits 0 at once", async () => {
    // A poll far longer than the bound: waiting for even one would show, on a busy machine too.
    const { dir, queue } = runnerSetup({ pollInterval: "90s" });
    const started = Date.now();
    const result = await runAq(dir, ["run", "--once"]);

    expect(result).toMatchObject({ code: 0, signal: null, stdout: "" });
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(result.stderr).toContain("nothing to run");
    expect(idsIn(queue, "queued")).toEqual([]);
  });

  it("--drain --concurrency 2 runs every job to review, two at a time, each transition signed by the runner", async () => {
    const { dir, queue } = runnerSetup();
    const ids = ["j1", "j2", "j3", "j4"];
    // In pairs, each waiting for its partner to start: a pair meets only if both run at once.
    const partner: Record<string, string> = { j1: "j2", j2: "j1", j3: "j4", j4: "j3" };
    await enqueue(
      queue,
      ids.map((id) => ({ id, body: meetScript(dir, partner[id]!) })),
    );

    const result = await runAq(dir, ["run", "--drain", "--concurrency", "2"]);

    expect(result.code).toBe(0);
    expect(result.stdout.split("\n").filter(Boolean).sort()).toEqual(ids.map((id) => `${id}\treview`));
    expect(idsIn(queue, "review")).toEqual(ids);
    expect(idsIn(queue, "queued")).toEqual([]);
    const runner = runnerIdOf(result.pid);
    for (const id of ids) {
      const meta = metaOf(queue, id);
      expect(meta).toMatchObject({ id, stage: "review", attempts: 1 });
      expect(pathOf(meta)).toEqual(REVIEW_PATH);
      expect(meta.history[0]).toMatchObject({ from: null, to: "queued", by: "test" });
      expect(meta.history.slice(1).map((entry) => [entry.from, entry.to, entry.by])).toEqual([
        ["queued", "assigned", runner],
        ["assigned", "building", runner],
        ["building", "review", runner],
      ]);
    }
    // Two slots: jobs ran two at a time, never three.
    for (const id of ids)
      expect(existsSync(join(dir, `${id}.met`)), `${id} never ran beside ${partner[id]}`).toBe(true);
    expect(maxOverlap(ids.map((id) => intervalOf(dir, id)))).toBe(2);
  });

  it("takes the highest priority first, then the oldest (not the id order)", async () => {
    const { dir, queue } = runnerSetup();
    const order = join(dir, "order.txt");
    const body = `echo "$AQ_JOB_ID" >> "${order}"`;
    await enqueue(queue, [
      { id: "z-old", body },
      { id: "m-mid", body },
      { id: "urgent", frontmatter: { priority: 5 }, body },
      { id: "a-new", body },
      { id: "soon", frontmatter: { priority: 1 }, body },
    ]);

    const result = await runAq(dir, ["run", "--drain", "--concurrency", "1"]);

    expect(result.code).toBe(0);
    expect(linesOf(order)).toEqual(["urgent", "soon", "z-old", "m-mid", "a-new"]);
    expect(idsIn(queue, "review")).toEqual(["a-new", "m-mid", "soon", "urgent", "z-old"]);
  });
});

describe("aq run: blocked jobs", () => {
  it("exit code 3 parks the job in blocked", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [{ id: "three", body: "echo cannot go on\nexit 3" }]);

    const result = await runAq(dir, ["run", "--drain"]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe("three\tblocked\n");
    const meta = metaOf(queue, "three");
    expect(meta).toMatchObject({ stage: "blocked", attempts: 1 });
    expect(meta.reason).toMatch(/exited 3/);
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "blocked"]);
    expect(logOf(queue, "three")).toContain("cannot go on");
  });

  it("a stdout line 'AQ_BLOCKED: <reason>' blocks the job with that reason even when it exits 0", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [
      { id: "creds", body: 'echo "looking around"\necho "AQ_BLOCKED: need credentials"\necho "bye"\nexit 0' },
    ]);

    const result = await runAq(dir, ["run", "--drain"]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe("creds\tblocked\n");
    const meta = metaOf(queue, "creds");
    expect(meta).toMatchObject({ stage: "blocked", attempts: 1, reason: "need credentials" });
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "blocked"]);
    expect(meta.history.at(-1)).toMatchObject({
      from: "building",
      to: "blocked",
      reason: "need credentials",
      by: runnerIdOf(result.pid),
    });
    expect(logOf(queue, "creds")).toContain("AQ_BLOCKED: need credentials");
  });
});

describe("aq run: engine problems fail the job, not the runner", () => {
  it("an engine whose program is not installed fails the job naming the engine and the command; the runner goes on", async () => {
    const { dir, queue } = runnerSetup({ engines: { ghost: { command: ["definitely-not-installed-xyz"] } } });
    await enqueue(queue, [
      { id: "haunted", frontmatter: { engine: "ghost" }, body: "do something" },
      { id: "after", body: `echo ran > "${dir}/after.txt"` },
    ]);

    const result = await runAq(dir, ["run", "--drain", "--concurrency", "1"]);

    expect(result.code).toBe(0);
    expect(result.stdout.split("\n").filter(Boolean).sort()).toEqual(["after\treview", "haunted\tfailed"]);
    const meta = metaOf(queue, "haunted");
    expect(meta.stage).toBe("failed");
    expect(meta.reason).toContain('"ghost"');
    expect(meta.reason).toContain("definitely-not-installed-xyz");
    expect(meta.reason).toMatch(/not installed|not found/);
    expect(meta.reason).not.toContain("\n");
    expect(pathOf(meta)).toEqual(["queued", "assigned", "building", "failed"]);
    // The next job ran after the failure, in the same runner.
    expect(stageOf(queue, "after")).toBe("review");
    expect(readFileSync(join(dir, "after.txt"), "utf8")).toBe("ran\n");
    expect(at(entriesTo(metaOf(queue, "after"), "assigned")[0])).toBeGreaterThanOrEqual(
      at(entriesTo(meta, "failed")[0]),
    );
  });

  it("an unknown engine name fails the job with a reason listing the known engines", async () => {
    const { dir, queue } = runnerSetup({ engines: { custom: { command: ["cat"] } } });
    await enqueue(queue, [
      { id: "typo", frontmatter: { engine: "cluade" }, body: "fix it" },
      { id: "fine", body: "true" },
    ]);

    const result = await runAq(dir, ["run", "--drain", "--concurrency", "1"]);

    expect(result.code).toBe(0);
    const meta = metaOf(queue, "typo");
    expect(meta.stage).toBe("failed");
    expect(meta.reason).toContain('"cluade"');
    for (const known of ["claude", "codex", "devin", "gemini", "shell", "custom"])
      expect(meta.reason).toMatch(new RegExp(`\\b${known}\\b`));
    expect(meta.reason).not.toContain("\n");
    expect(meta.history.at(-1)).toMatchObject({ to: "failed", reason: meta.reason });
    expect(stageOf(queue, "fine")).toBe("review");
  });
});

describe("aq run: what the engine sees", () => {
  it("the shell engine runs the prompt with sh, with AQ_JOB_ID, AQ_STAGE=building and AQ_QUEUE_DIR, and without aq's tokens", async () => {
    const { dir, queue } = runnerSetup();
    const out = join(dir, "seen.txt");
    const body = [
      "{",
      '  echo "id=$AQ_JOB_ID"',
      '  echo "stage=$AQ_STAGE"',
      '  echo "queue=$AQ_QUEUE_DIR"',
      '  echo "fleet=${AQ_FLEET_TOKEN-unset}"',
      '  echo "tracker=${AQ_TRACKER_TOKEN-unset}"',
      '  echo "pwd=$(pwd)"',
      "  echo \"argv0=$(tr '\\0' '\\n' < /proc/$$/cmdline | head -n 1)\"",
      '  echo "sum=$((40 + 2))"',
      `} > "${out}"`,
      `env > "${dir}/env.txt"`,
      `cat "$0" > "${dir}/script.txt"`,
    ].join("\n");
    await enqueue(queue, [{ id: "envjob", body }]);

    const result = await runAq(dir, ["run", "--drain"], {
      AQ_FLEET_TOKEN: "fleet-secret-123",
      AQ_TRACKER_TOKEN: "tracker-secret-456",
    });

    expect(result.code).toBe(0);
    expect(stageOf(queue, "envjob")).toBe("review");
    expect(linesOf(out)).toEqual([
      "id=envjob",
      "stage=building",
      `queue=${queue}`,
      "fleet=unset",
      "tracker=unset",
      `pwd=${dir}`,
      "argv0=sh",
      "sum=42",
    ]);
    const env = readFileSync(join(dir, "env.txt"), "utf8");
    expect(env).not.toContain("fleet-secret-123");
    expect(env).not.toContain("tracker-secret-456");
    expect(env).not.toMatch(/^AQ_(FLEET|TRACKER)_TOKEN=/m);
    // The script sh ran is the job's prompt.
    expect(readFileSync(join(dir, "script.txt"), "utf8")).toBe(`${body}\n`);
  });
});

describe("aq run: files dropped into queued/", () => {
  it("a malformed .md goes to failed/ with a one-line reason naming file and problem; a good one is adopted and runs; the runner keeps going", async () => {
    const { dir, queue } = runnerSetup();
    await enqueue(queue, [{ id: "warmup", body: "true" }]);
    const runner = spawnAq(dir, ["run"]);
    // The runner is up and idle once it has finished a first job.
    await waitFor(() => settledIn(queue, "warmup", "review"), 10_000, "the warm-up job");

    // Dropped in the way a careful person does: written beside the queue, renamed in.
    const drop = (name: string, text: string) => {
      writeFileSync(join(dir, `.${name}.tmp`), text);
      renameSync(join(dir, `.${name}.tmp`), join(queue, "queued", name));
    };
    drop("bad.md", "---\nengine: [shell\ntimeout: 5s\n---\necho never\n");
    drop("good.md", `---\nengine: shell\n---\necho adopted > "${dir}/good.txt"\n`);

    await waitFor(
      () => settledIn(queue, "good", "review") && settledIn(queue, "bad", "failed"),
      10_000,
      "good in review and bad in failed",
    );

    const bad = metaOf(queue, "bad");
    expect(bad.stage).toBe("failed");
    expect(bad.reason).toMatch(/^bad\.md: .*YAML/);
    expect(bad.reason).not.toContain("\n");
    expect(pathOf(bad)).toEqual(["queued", "failed"]);
    expect(readFileSync(join(queue, "failed", "bad", "job.md"), "utf8")).toBe(
      "---\nengine: [shell\ntimeout: 5s\n---\necho never\n",
    );

    const good = metaOf(queue, "good");
    expect(good).toMatchObject({ id: "good", stage: "review", attempts: 1, origin: { kind: "local" } });
    expect(pathOf(good)).toEqual(REVIEW_PATH);
    expect(readFileSync(join(dir, "good.txt"), "utf8")).toBe("adopted\n");
    expect(existsSync(join(queue, "queued", "bad.md"))).toBe(false);
    expect(existsSync(join(queue, "queued", "good.md"))).toBe(false);

    // Still running, and it stops cleanly when asked.
    expect(runner.exitCode).toBeNull();
    runner.kill("SIGTERM");
    const result = await runner.exited;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("bad: moved to failed");
  });
});
