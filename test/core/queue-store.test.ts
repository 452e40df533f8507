import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { adoptDropped } from "../../src/core/adopt.ts";
import { claimNext } from "../../src/core/claim.ts";
import { AqError } from "../../src/core/errors.ts";
import { readMeta } from "../../src/core/meta.ts";
import { selfRef } from "../../src/core/process-ref.ts";
import { idsIn, jobText } from "../helpers/jobs.ts";
import { tempDir } from "../helpers/temp.ts";
import { DESIGN_STAGES, addJob, allFiles, newJobFromText, openStore, rejection } from "../helpers/store-fixtures.ts";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const claimer = () => ({ by: "test-runner", owner: selfRef() });
const onDisk = (root: string, stage: string, id: string) =>
  JSON.parse(readFileSync(join(root, stage, id, "meta.json"), "utf8"));

describe("queue store: layout and manifest", () => {
  it("open() creates every stage directory and a .gitignore that keeps logs out of git", async () => {
    const repo = tempDir();
    execFileSync("git", ["init", "-q", repo]);
    const root = join(repo, "queue");
    const store = await openStore(root);
    expect(store.root).toBe(root);
    for (const stage of DESIGN_STAGES) expect(statSync(join(root, stage)).isDirectory(), stage).toBe(true);
    expect(existsSync(join(root, ".gitignore"))).toBe(true);
    const ignored = (path: string) => {
      try {
        execFileSync("git", ["check-ignore", "-q", path], { cwd: repo });
        return true;
      } catch {
        return false;
      }
    };
    expect(ignored("queue/queued/some-job/log.txt")).toBe(true);
    expect(ignored("queue/failed/other-job/log.txt")).toBe(true);
    expect(ignored("queue/review/other-job/agent.jsonl")).toBe(true);
    // The manifest and the job itself are the audit log: they must not be ignored.
    expect(ignored("queue/queued/some-job/job.md")).toBe(false);
    expect(ignored("queue/queued/some-job/meta.json")).toBe(false);
    // Opening again is harmless and keeps a .gitignore a person edited.
    writeFileSync(join(root, ".gitignore"), "*/*/log.txt\n# mine\n");
    await openStore(root);
    expect(readFileSync(join(root, ".gitignore"), "utf8")).toBe("*/*/log.txt\n# mine\n");
  });

  it("a job is STAGE/ID/ with job.md exactly as submitted, never rewritten by transitions", async () => {
    const root = tempDir();
    const store = await openStore(root);
    // CRLF, non-ASCII, trailing blanks and no final newline: any re-rendering would show.
    const text =
      "---\r\nengine: shell   \r\npriority: 2\r\nx-plugin: 'kept'\r\n---\r\necho \"héllo wörld\" ✓  \r\n\r\nno newline at the end";
    await store.create(newJobFromText("exact-1", text), { by: "test" });
    const path = join(root, "queued", "exact-1", "job.md");
    expect(readFileSync(path)).toEqual(Buffer.from(text, "utf8"));
    const before = statSync(path);

    await store.move("exact-1", "queued", "assigned", { by: "w1" });
    await store.move("exact-1", "assigned", "building", { by: "w1" });
    await store.update("exact-1", "building", (meta) => ({ ...meta, wip: { branch: "aq/exact-1", commit: "abc" } }));
    await store.move("exact-1", "building", "review", { by: "w1" });

    expect(idsIn(root, "queued")).toEqual([]);
    expect(idsIn(root, "review")).toEqual(["exact-1"]);
    const moved = join(root, "review", "exact-1", "job.md");
    expect(readFileSync(moved)).toEqual(Buffer.from(text, "utf8"));
    const after = statSync(moved);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it("meta.json holds id, stage, attempts, origin, history and createdAt, and each transition appends {from, to, at, by, reason?}", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "m-1", { engine: "shell", priority: 3 });
    const created = onDisk(root, "queued", "m-1");
    expect(created).toMatchObject({ id: "m-1", stage: "queued", attempts: 0, origin: { kind: "local" } });
    expect(created.createdAt).toMatch(ISO);
    expect(created.history).toEqual([{ from: null, to: "queued", at: created.createdAt, by: "test" }]);

    await store.move("m-1", "queued", "assigned", { by: "runner-a" });
    await store.move("m-1", "assigned", "building", { by: "runner-a" });
    await store.move("m-1", "building", "failed", { by: "runner-a", reason: "engine exited 1" });

    const meta = onDisk(root, "failed", "m-1");
    expect(meta).toMatchObject({
      id: "m-1",
      stage: "failed",
      reason: "engine exited 1",
      createdAt: created.createdAt,
      origin: { kind: "local" },
    });
    expect(meta.history.map((h: { from: string | null; to: string }) => [h.from, h.to])).toEqual([
      [null, "queued"],
      ["queued", "assigned"],
      ["assigned", "building"],
      ["building", "failed"],
    ]);
    expect(Object.keys(meta.history[1]).sort()).toEqual(["at", "by", "from", "to"]);
    expect(meta.history[3]).toEqual({
      from: "building",
      to: "failed",
      at: expect.stringMatching(ISO),
      by: "runner-a",
      reason: "engine exited 1",
    });
    const times = meta.history.map((h: { at: string }) => Date.parse(h.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));

    // Leaving failed clears the stage's reason from the manifest (the history keeps it).
    await store.move("m-1", "failed", "queued", { by: "person" });
    const requeued = onDisk(root, "queued", "m-1");
    expect(requeued.reason).toBeUndefined();
    expect(requeued.history).toHaveLength(5);
    expect(requeued.history[3].reason).toBe("engine exited 1");
  });
});

describe("queue store: transitions are one rename", () => {
  it("of many concurrent claims of one job exactly one wins; the others get AQ_CONFLICT", async () => {
    const root = tempDir();
    const store = await openStore(root);
    for (let round = 0; round < 5; round++) {
      const id = `race-${round}`;
      await addJob(store, id);
      const results = await Promise.allSettled(
        Array.from({ length: 16 }, (_, i) => store.move(id, "queued", "assigned", { by: `worker-${i}` })),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(15);
      for (const { reason } of lost) {
        expect(reason).toBeInstanceOf(AqError);
        expect((reason as AqError).code).toBe("AQ_CONFLICT");
        expect((reason as AqError).message).toContain("assigned");
      }
      const meta = onDisk(root, "assigned", id);
      expect(meta.stage).toBe("assigned");
      expect(meta.history.filter((h: { to: string }) => h.to === "assigned")).toHaveLength(1);
      expect(idsIn(root, "queued")).not.toContain(id);
    }
  });

  it("moving a job from a stage it is not in fails and names the stage it is in", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "here-1");
    const error = await rejection(store.move("here-1", "building", "review", { by: "t" }));
    expect(error).toBeInstanceOf(AqError);
    expect((error as AqError).code).toBe("AQ_CONFLICT");
    expect(error.message).toMatch(/\bqueued\b/);
    expect(error.message).toContain("here-1");
    expect(idsIn(root, "queued")).toEqual(["here-1"]);
    expect(idsIn(root, "review")).toEqual([]);

    const missing = await rejection(store.move("nobody", "queued", "assigned", { by: "t" }));
    expect(missing).toBeInstanceOf(AqError);
    expect((missing as AqError).code).toBe("AQ_NOT_FOUND");
  });

  it("a move the stage table forbids (queued → shipped) is refused and changes nothing", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "no-skip");
    const before = readFileSync(join(root, "queued", "no-skip", "meta.json"), "utf8");
    for (const [from, to] of [
      ["queued", "shipped"],
      ["queued", "review"],
      ["queued", "dead_letter"],
    ] as const) {
      const error = await rejection(store.move("no-skip", from, to, { by: "t" }));
      expect(error).toBeInstanceOf(AqError);
      expect((error as AqError).code).toBe("AQ_CONFLICT");
      expect(error.message).toContain(to);
    }
    expect(idsIn(root, "queued")).toEqual(["no-skip"]);
    expect(idsIn(root, "shipped")).toEqual([]);
    expect(readFileSync(join(root, "queued", "no-skip", "meta.json"), "utf8")).toBe(before);
    // and out of a terminal stage: shipped → queued
    await store.move("no-skip", "queued", "assigned", { by: "t" });
    await store.move("no-skip", "assigned", "building", { by: "t" });
    await store.move("no-skip", "building", "review", { by: "t" });
    await store.move("no-skip", "review", "shipped", { by: "t" });
    const back = await rejection(store.move("no-skip", "shipped", "queued", { by: "t" }));
    expect((back as AqError).code).toBe("AQ_CONFLICT");
    expect(idsIn(root, "shipped")).toEqual(["no-skip"]);
  });
});

describe("queue store: meta.json is never partial", () => {
  it("a reader racing with many writers always parses a whole manifest, and no temp file is left", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "busy");
    const metaPath = join(root, "queued", "busy", "meta.json");
    let writing = true;
    let reads = 0;
    const problems: string[] = [];
    // Big manifests make a non-atomic write (truncate, then write in pieces) visible to a reader.
    const pad = (writer: number, n: number) => `${writer}:${n}:`.padEnd(200_000, String(writer));
    const writer = async (w: number) => {
      for (let n = 0; n < 25; n++)
        await store.update("busy", "queued", (meta) => ({ ...meta, pad: pad(w, n), writer: w }));
    };
    const reader = async () => {
      while (writing) {
        const text = await readFile(metaPath, "utf8").catch((error: Error) => {
          problems.push(`read failed: ${error.message}`);
          return "";
        });
        try {
          const json = JSON.parse(text);
          if (json.id !== "busy" || (typeof json.pad !== "string" && json.pad !== undefined))
            problems.push(`odd manifest: ${text.slice(0, 80)}`);
        } catch (error) {
          problems.push(`torn read of ${text.length} chars: ${(error as Error).message}`);
        }
        await readMeta(metaPath).catch((error) => problems.push(`readMeta: ${(error as Error).message}`));
        reads++;
      }
    };
    const readers = [reader(), reader(), reader()];
    try {
      await Promise.all([writer(1), writer(2), writer(3), writer(4)]);
    } finally {
      writing = false;
      await Promise.allSettled(readers);
    }
    expect(problems).toEqual([]);
    expect(reads).toBeGreaterThan(10);
    const final = JSON.parse(readFileSync(metaPath, "utf8"));
    expect(final.pad).toHaveLength(200_000);
    expect(readdirSync(join(root, "queued", "busy")).sort()).toEqual(["job.md", "meta.json"]);
    expect(allFiles(root).filter((f) => /tmp/i.test(f.split("/").at(-1)!))).toEqual([]);
  });
});

describe("queue store: adopting what was dropped into queued/", () => {
  it("a dropped queued/<stem>.md becomes job <stem> with its exact text", async () => {
    const root = tempDir();
    const store = await openStore(root);
    const text = jobText({ engine: "shell", priority: 4 }, "echo dropped by hand");
    writeFileSync(join(root, "queued", "fix-login.md"), text);
    const { adopted, rejected } = await adoptDropped(store, "test");
    expect(adopted).toEqual(["fix-login"]);
    expect(rejected).toEqual([]);
    expect(existsSync(join(root, "queued", "fix-login.md"))).toBe(false);
    expect(readFileSync(join(root, "queued", "fix-login", "job.md"), "utf8")).toBe(text);
    const meta = onDisk(root, "queued", "fix-login");
    expect(meta).toMatchObject({
      id: "fix-login",
      stage: "queued",
      attempts: 0,
      priority: 4,
      origin: { kind: "local" },
    });
    // Adopting again finds nothing new.
    expect(await adoptDropped(store, "test")).toEqual({ adopted: [], rejected: [] });
  });

  it("a malformed dropped file goes to failed/<stem> with a one-line reason naming the file, and nothing else is touched", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "bystander", { engine: "shell", lock: "repo" });
    await addJob(store, "old-failure");
    await store.move("old-failure", "queued", "failed", { by: "t", reason: "earlier" });
    writeFileSync(join(root, "queued", "notes.txt"), "not a job\n");
    const bad = "---\nengine: shell\ntimeout: 4x\n---\necho never\n";
    writeFileSync(join(root, "queued", "broken-job.md"), bad);
    const snapshot = (files: string[]) =>
      Object.fromEntries(files.map((f) => [f, readFileSync(join(root, f), "utf8")]));
    const untouched = [
      "queued/bystander/job.md",
      "queued/bystander/meta.json",
      "failed/old-failure/job.md",
      "failed/old-failure/meta.json",
      "queued/notes.txt",
    ];
    const before = snapshot(untouched);

    const { adopted, rejected } = await adoptDropped(store, "test");

    expect(adopted).toEqual([]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.id).toBe("broken-job");
    expect(idsIn(root, "failed")).toEqual(["broken-job", "old-failure"]);
    expect(existsSync(join(root, "queued", "broken-job.md"))).toBe(false);
    expect(readFileSync(join(root, "failed", "broken-job", "job.md"), "utf8")).toBe(bad);
    const meta = onDisk(root, "failed", "broken-job");
    expect(meta.stage).toBe("failed");
    expect(meta.reason).toBe(rejected[0]!.problem);
    expect(meta.reason).not.toContain("\n");
    expect(meta.reason).toContain("broken-job.md");
    expect(meta.reason).toMatch(/timeout/);
    expect(meta.history.at(-1)).toMatchObject({ to: "failed", reason: meta.reason });
    expect(snapshot(untouched)).toEqual(before);
    expect(idsIn(root, "queued")).toEqual(["bystander"]);
  });

  it("a job directory in queued/ with job.md but no meta.json is adopted as a queued job", async () => {
    const root = tempDir();
    const store = await openStore(root);
    const text = jobText({ engine: "shell", priority: 7, lock: "db" }, "echo half written");
    mkdirSync(join(root, "queued", "half-done"));
    writeFileSync(join(root, "queued", "half-done", "job.md"), text);
    const { rejected } = await adoptDropped(store, "test");
    expect(rejected).toEqual([]);
    expect(idsIn(root, "queued")).toEqual(["half-done"]);
    expect(readFileSync(join(root, "queued", "half-done", "job.md"), "utf8")).toBe(text);
    const meta = await readMeta(join(root, "queued", "half-done", "meta.json"));
    expect(meta).toMatchObject({
      id: "half-done",
      stage: "queued",
      attempts: 0,
      priority: 7,
      lock: "db",
      origin: { kind: "local" },
    });
    expect(meta.history).toHaveLength(1);
    expect((await store.get("half-done")).stage).toBe("queued");
  });

  it("a job directory with a corrupt meta.json goes to failed with a reason; the corrupt file is kept aside", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "healthy");
    const healthyMeta = readFileSync(join(root, "queued", "healthy", "meta.json"), "utf8");
    const text = jobText({ engine: "shell" }, "echo corrupt manifest");
    mkdirSync(join(root, "queued", "mangled"));
    writeFileSync(join(root, "queued", "mangled", "job.md"), text);
    writeFileSync(join(root, "queued", "mangled", "meta.json"), '{"id": "mangled", "stage": "que');

    const { rejected } = await adoptDropped(store, "test");

    expect(rejected.map((r) => r.id)).toEqual(["mangled"]);
    expect(idsIn(root, "failed")).toEqual(["mangled"]);
    expect(idsIn(root, "queued")).toEqual(["healthy"]);
    const dir = join(root, "failed", "mangled");
    const meta = await readMeta(join(dir, "meta.json"));
    expect(meta.stage).toBe("failed");
    expect(meta.reason).toBeTruthy();
    expect(meta.reason).not.toContain("\n");
    expect(meta.reason).toMatch(/meta\.json/);
    expect(readFileSync(join(dir, "job.md"), "utf8")).toBe(text);
    const aside = readdirSync(dir).filter((name) => name !== "meta.json" && name.startsWith("meta.json"));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]!), "utf8")).toBe('{"id": "mangled", "stage": "que');
    expect(readFileSync(join(root, "queued", "healthy", "meta.json"), "utf8")).toBe(healthyMeta);
  });
});

describe("queue store: list", () => {
  it("list() reports unreadable jobs as broken with a problem instead of throwing", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "fine");
    await addJob(store, "garbled");
    await store.move("garbled", "queued", "assigned", { by: "t" });
    await store.move("garbled", "assigned", "building", { by: "t" });
    await store.move("garbled", "building", "review", { by: "t" });
    writeFileSync(join(root, "review", "garbled", "meta.json"), "{ nope");
    mkdirSync(join(root, "testing", "ghost"));
    writeFileSync(join(root, "testing", "ghost", "job.md"), jobText({ engine: "shell" }, "echo"));
    writeFileSync(join(root, "shipped", "bad-shape"), ""); // a stray file is not a job
    mkdirSync(join(root, "shipped", "wrong-shape"));
    writeFileSync(
      join(root, "shipped", "wrong-shape", "meta.json"),
      JSON.stringify({ id: "wrong-shape", stage: "shipped" }),
    );

    const { jobs, broken } = await store.list();

    expect(jobs.map((j) => [j.id, j.stage])).toEqual([["fine", "queued"]]);
    const byId = Object.fromEntries(broken.map((b) => [b.id, b]));
    expect(Object.keys(byId).sort()).toEqual(["garbled", "ghost", "wrong-shape"]);
    expect(byId.garbled).toMatchObject({ stage: "review", dir: join(root, "review", "garbled") });
    expect(byId.ghost).toMatchObject({ stage: "testing" });
    expect(byId["wrong-shape"]).toMatchObject({ stage: "shipped" });
    for (const item of broken) {
      expect(typeof item.problem).toBe("string");
      expect(item.problem.length).toBeGreaterThan(0);
      expect(item.problem).not.toContain("\n");
    }
    // A job's own readers still say what is wrong with it.
    await expect(store.get("garbled")).rejects.toBeInstanceOf(AqError);
  });
});

describe("claimNext", () => {
  it("claims the highest priority first, then the oldest", async () => {
    const root = tempDir();
    const store = await openStore(root);
    // Ids sort opposite to age so that an id-order claim would be caught.
    await addJob(store, "z-oldest-low", { engine: "shell", priority: 0 });
    await sleep(5);
    await addJob(store, "y-older-low", { engine: "shell", priority: 0 });
    await sleep(5);
    await addJob(store, "x-newest-high", { engine: "shell", priority: 5 });
    await sleep(5);
    await addJob(store, "a-newer-low", { engine: "shell", priority: 0 });
    await sleep(5);
    await addJob(store, "b-negative", { engine: "shell", priority: -1 });

    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { claimed } = await claimNext(store, claimer());
      if (!claimed) break;
      order.push(claimed.record.id);
      expect(claimed.record.stage).toBe("assigned");
      expect(claimed.record.meta.attempts).toBe(1);
      expect(claimed.record.meta.owner).toEqual(selfRef());
    }
    expect(order).toEqual(["x-newest-high", "z-oldest-low", "y-older-low", "a-newer-low", "b-negative"]);
    expect(idsIn(root, "queued")).toEqual([]);
    expect(idsIn(root, "assigned")).toHaveLength(5);
  });

  it("skips a job whose notBefore is in the future and counts it as waiting", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "backing-off", { engine: "shell", priority: 9 });
    await addJob(store, "ready", { engine: "shell", priority: 0 });
    const later = new Date(Date.now() + 60_000).toISOString();
    await store.update("backing-off", "queued", (meta) => ({ ...meta, notBefore: later }));

    const first = await claimNext(store, claimer());
    expect(first.claimed?.record.id).toBe("ready");
    expect(first.waiting).toBe(1);
    expect(first.nextAt).toBe(Date.parse(later));

    const second = await claimNext(store, claimer());
    expect(second.claimed).toBeUndefined();
    expect(second.waiting).toBe(1);
    expect(idsIn(root, "queued")).toEqual(["backing-off"]);

    // Once the backoff is over it is claimable, and the claim clears notBefore.
    await store.update("backing-off", "queued", (meta) => ({
      ...meta,
      notBefore: new Date(Date.now() - 1000).toISOString(),
    }));
    const third = await claimNext(store, claimer());
    expect(third.claimed?.record.id).toBe("backing-off");
    expect(third.waiting).toBe(0);
    expect(onDisk(root, "assigned", "backing-off").notBefore).toBeUndefined();
  });

  it("skips a job whose named lock is held (waiting) and claims it once the lock is released", async () => {
    const root = tempDir();
    const store = await openStore(root);
    await addJob(store, "lock-first", { engine: "shell", lock: "agent-queue", priority: 2 });
    await sleep(5);
    await addJob(store, "lock-second", { engine: "shell", lock: "agent-queue", priority: 1 });
    await sleep(5);
    await addJob(store, "unlocked", { engine: "shell", priority: 0 });

    const a = await claimNext(store, claimer());
    expect(a.claimed?.record.id).toBe("lock-first");
    expect(a.claimed?.lock).toBeDefined();

    const b = await claimNext(store, claimer());
    expect(b.claimed?.record.id).toBe("unlocked");
    expect(b.waiting).toBe(1);

    const c = await claimNext(store, claimer());
    expect(c.claimed).toBeUndefined();
    expect(c.waiting).toBe(1);
    expect(idsIn(root, "queued")).toEqual(["lock-second"]);

    await a.claimed!.lock!.release();
    const d = await claimNext(store, claimer());
    expect(d.claimed?.record.id).toBe("lock-second");
    expect(d.waiting).toBe(0);
    await d.claimed!.lock!.release();
  });

  describe("the listing a claimer keeps of queued/ never hides what is on disk", () => {
    // Two stores on one queue stand for two processes: neither sees the other's moves in memory.
    async function keptListing() {
      const root = tempDir();
      const runner = await openStore(root);
      const other = await openStore(root);
      for (const id of ["a-1", "a-2", "a-3"]) await addJob(runner, id, { engine: "shell" });
      expect((await claimNext(runner, claimer())).claimed?.record.id).toBe("a-1"); // the listing is kept now
      return { root, runner, other };
    }

    it("sees a job another process added, removed or raised in place", async () => {
      const { runner, other } = await keptListing();
      await addJob(other, "urgent", { engine: "shell", priority: 5 });
      expect((await claimNext(runner, claimer())).claimed?.record.id).toBe("urgent");
      await other.update("a-3", "queued", (meta) => ({ ...meta, priority: 1 }));
      expect((await claimNext(runner, claimer())).claimed?.record.id).toBe("a-3");
      await other.move("a-2", "queued", "failed", { by: "test", reason: "cancelled" });
      await addJob(other, "a-4", { engine: "shell", priority: 0 });
      expect((await claimNext(runner, claimer())).claimed?.record.id).toBe("a-4");
      expect((await claimNext(runner, claimer())).claimed).toBeUndefined();
    });

    it("does not claim a job whose meta gained a backoff behind its back (a writer that died before telling)", async () => {
      const { root, runner } = await keptListing();
      const path = join(root, "queued", "a-2", "meta.json");
      const later = new Date(Date.now() + 60_000).toISOString();
      writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), notBefore: later }));
      const next = await claimNext(runner, claimer());
      expect(next.claimed?.record.id).toBe("a-3");
      const last = await claimNext(runner, claimer());
      expect(last.claimed).toBeUndefined();
      expect(last.waiting).toBe(1);
      expect(idsIn(root, "queued")).toEqual(["a-2"]);
    });

    it("adopts a file dropped into queued/ while the listing is kept", async () => {
      const { root, runner } = await keptListing();
      writeFileSync(join(root, "queued", "dropped.md"), "---\nengine: shell\npriority: 3\n---\ntrue\n");
      const old = new Date(Date.now() - 60_000);
      utimesSync(join(root, "queued", "dropped.md"), old, old); // written a while ago: settled
      const result = await claimNext(runner, claimer());
      expect(result.adopted).toEqual(["dropped"]);
      expect(result.claimed?.record.id).toBe("dropped");
    });
  });
});
