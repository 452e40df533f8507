import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { appendFile, mkdir, readdir, readFile, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { auditPending, auditWritten } from "./audit-writes.ts";
import { crashPoint } from "./crash-point.ts";
import { AqError, oneLine } from "./errors.ts";
import { readRefFile } from "./git-files.ts";
import { git, gitEnv, gitMaybe } from "./git.ts";
import { withLock } from "./locks.ts";
import { gitRunsIn, processesWithEnv } from "./proc-scan.ts";
import { STAGE_NAMES } from "./stages.ts";

export { DEFAULT_QUEUE_REF } from "./queue-ref.ts";
/** The files of a job that the audit log keeps; logs, prompts and the agent's stream stay out. */
const AUDITED = ["job.md", "meta.json"] as const;
/** The audit log's commits are aq's, not the person's: named after aq and the host that made them. */
const AUDIT_IDENT = `aq <aq@${hostname().replace(/[<>\s]/g, "") || "localhost"}>`;
/** How long a runner gathers transitions before it writes them (one git process for all of them). */
const BATCH_MS = 1000;
/** The git processes of an aq writing this queue's log carry it (so a lock they hold is never taken as stale). */
const WRITER_ENV = "AQ_GIT_QUEUE";
/** Versions remembered to tell a stale snapshot from a newer one another process already wrote. */
const REMEMBERED_VERSIONS = 2000;

export interface GitQueueOptions {
  /** The ref the audit log is committed on. */
  readonly ref: string;
  /** aq's private state of the log (the queue's `.aq/git`). */
  readonly stateDir: string;
  /** aq's own lock that serializes the commits of every process of this queue. */
  readonly lockPath: string;
  /** Told once per process when a commit could not be made (it is caught up later). */
  readonly warn?: ((message: string) => void) | undefined;
}

/** A job's audited files as they were right after one transition, and the commit message of it. */
interface Snapshot {
  readonly id: string;
  readonly message: string;
  readonly at: number;
  /** The stage directory the job was in, undefined when it was gone. */
  readonly stage: string | undefined;
  readonly files: ReadonlyArray<readonly [name: string, content: Buffer]>;
  readonly version: string | undefined;
}

/** One commit of a batch: its message, and the paths it writes and removes. */
interface Change {
  readonly message: string;
  readonly at: number;
  readonly deleteAll?: boolean;
  readonly removes: readonly string[];
  readonly writes: ReadonlyArray<readonly [path: string, content: Buffer]>;
}

/**
 * The offline git-queue: when the queue directory is inside a git work tree, each transition is
 * a commit on a ref of its own (`refs/heads/aq-queue`), made with git's plumbing (`git
 * fast-import`, which writes the objects and moves the ref in one process, without any index),
 * so the person's index, HEAD, branch and working tree are never touched. The ref moves only
 * from the commit it was read at (fast-import refuses a tip that does not contain the current
 * one); commits of concurrent processes are serialized by aq's lock. A transition's files are
 * read when it happens and its commit is written shortly after, with the others of that moment:
 * one git process for a batch of commits. The directories on disk are the truth: a commit that
 * cannot be made now (git failing, the process killed) is made by the next catch-up, and the
 * audit log never fails a transition.
 */
export class GitQueue {
  private readonly top: string;
  private readonly commonDir: string;
  private readonly queueDir: string;
  private readonly rel: string;
  private readonly objectFormat: string;
  private readonly options: GitQueueOptions;
  private readonly writtenFile: string;
  private readonly marksFile: string;
  private readonly env: NodeJS.ProcessEnv;
  private snapshots: Snapshot[] = [];
  /** Jobs whose snapshots went with a write git refused: recorded as they are on disk next time. */
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private warned = false;

  private constructor(top: string, commonDir: string, queueDir: string, format: string, options: GitQueueOptions) {
    this.top = top;
    this.commonDir = commonDir;
    this.queueDir = queueDir;
    const rel = relative(top, queueDir).split("\\").join("/");
    this.rel = rel === "" ? "" : `${rel}/`;
    this.objectFormat = format === "sha256" ? "sha256" : "sha1";
    this.options = options;
    this.writtenFile = join(options.stateDir, "written.json");
    this.marksFile = join(options.stateDir, `marks.${process.pid}`);
    this.env = gitEnv({ [WRITER_ENV]: options.stateDir });
  }

  static async detect(queueDir: string, options: GitQueueOptions): Promise<GitQueue | undefined> {
    const answer = await gitMaybe(queueDir, [
      "rev-parse",
      "--show-toplevel",
      "--git-common-dir",
      "--show-object-format",
    ]);
    const [top, common, format] = answer?.split("\n") ?? [];
    if (!top || !common) return undefined;
    const queue = new GitQueue(top, resolve(queueDir, common), queueDir, format ?? "sha1", options);
    await queue.excludeQueue();
    await mkdir(options.stateDir, { recursive: true });
    return queue;
  }

  get refName(): string {
    return this.options.ref;
  }

  /**
   * The queue directory never shows in the person's `git status`, in their commits or in a
   * job's worktree: one line in the repository's `info/exclude` (shared by all its worktrees).
   */
  private async excludeQueue(): Promise<void> {
    if (this.rel === "") return;
    const file = join(this.commonDir, "info", "exclude");
    const line = `/${this.rel}`;
    const text = await readFile(file, "utf8").catch(() => "");
    if (text.split("\n").includes(line)) return;
    await mkdir(dirname(file), { recursive: true });
    await appendFile(
      file,
      `${text === "" || text.endsWith("\n") ? "" : "\n"}# aq: the queue's audit log lives on ${this.options.ref}\n${line}\n`,
    );
  }

  /**
   * Records one transition of a job: its files are read now (the caller holds the job's lock),
   * its commit is written with the next batch. Never throws, never waits for git.
   */
  async commitJob(id: string, message: string): Promise<void> {
    this.snapshots.push(this.snapshot(id, message));
    auditPending(this);
    crashPoint("git:snapshot-taken");
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, BATCH_MS);
  }

  /** Writes what is gathered now and waits for it (a process's end: nothing it did stays unrecorded). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // A few rounds at most: a write git refuses leaves its jobs for the next catch-up, it is not retried in a loop.
    for (let round = 0; round < 3 && (this.writing || this.snapshots.length > 0 || this.dirty.size > 0); round++)
      await (this.writing ?? this.write());
    if (this.snapshots.length === 0) auditWritten(this);
  }

  /** Records every job on disk as it is now (a runner's start: transitions a crash left uncommitted). */
  async catchUp(): Promise<void> {
    await this.flush();
    try {
      await withLock(this.options.lockPath, () => this.writeUnderLock([], { all: true }), "git-queue");
    } catch (error) {
      this.warnOnce(`git-queue: catch-up on ${this.options.ref} failed: ${oneLine(error)}`);
    }
  }

  private write(): Promise<void> {
    if (this.writing) return this.writing;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.snapshots;
    this.snapshots = [];
    const dirty = [...this.dirty];
    this.dirty.clear();
    this.writing = withLock(this.options.lockPath, () => this.writeUnderLock(batch, { ids: dirty }), "git-queue")
      .catch((error) => {
        for (const snapshot of batch) this.dirty.add(snapshot.id);
        for (const id of dirty) this.dirty.add(id);
        this.warnOnce(
          `git-queue: could not commit ${batch.length} transition(s) on ${this.options.ref}: ${oneLine(error)}; the queue goes on and the next commit catches up`,
        );
      })
      .finally(() => {
        this.writing = undefined;
        if (this.snapshots.length > 0)
          this.timer ??= setTimeout(() => {
            this.timer = undefined;
            void this.write();
          }, BATCH_MS);
      });
    return this.writing;
  }

  private warnOnce(message: string): void {
    if (!this.warned) this.options.warn?.(message);
    this.warned = true;
  }

  private snapshot(id: string, message: string): Snapshot {
    const at = Date.now();
    for (const stage of STAGE_NAMES) {
      const dir = join(this.queueDir, stage, id);
      if (!existsSync(dir)) continue;
      const files: Array<readonly [string, Buffer]> = [];
      for (const name of AUDITED) {
        try {
          files.push([name, readFileSync(join(dir, name))]);
        } catch {
          // not there (yet): the catch-up records it
        }
      }
      const meta = files.find(([name]) => name === "meta.json")?.[1];
      return { id, message, at, stage, files, version: meta ? versionOf(meta) : undefined };
    }
    return { id, message, at, stage: undefined, files: [], version: undefined };
  }

  /** One `git fast-import` for the whole batch; under aq's lock, so no other aq moves the ref meanwhile. */
  private async writeUnderLock(
    batch: readonly Snapshot[],
    options: { all?: boolean; ids?: readonly string[] },
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const parent =
        this.readRef() ?? (await gitMaybe(this.top, ["rev-parse", "--verify", "-q", `${this.options.ref}^{commit}`]));
      const written = this.readWritten(parent);
      const changes: Change[] = [];
      for (const snapshot of batch) {
        // Another process already wrote a newer state of this job: this older one would undo it.
        if (isNewer(written.get(snapshot.id), snapshot.version)) continue;
        changes.push(this.changeOf(snapshot));
        if (snapshot.version) remember(written, snapshot.id, snapshot.version);
      }
      if (!parent) {
        // The first commit of the log holds the whole queue as it is on disk (an older queue's jobs included).
        const full = await this.fullChange(undefined);
        const first = changes.shift();
        if (full) changes.unshift(first ? { ...full, message: first.message, at: first.at } : full);
        else if (first) changes.unshift(first);
      } else if (options.all) {
        const full = await this.fullChange(parent);
        if (full) changes.push(full);
      } else if (options.ids?.length) {
        const snapshots = options.ids.map((id) => this.snapshot(id, "aq: catch-up"));
        changes.push({ ...this.mergedChange(snapshots), message: catchUpMessage(options.ids) });
      }
      if (changes.length === 0) return;
      try {
        await this.fastImport(changes, parent);
      } catch (error) {
        const text = String((error as AqError).cause ?? error);
        if (attempt < 3 && /Not updating|cannot lock ref|Unable to create .*\.lock/i.test(text)) {
          await this.clearStaleRefLock();
          continue;
        }
        throw error;
      }
      crashPoint("git:ref-updated");
      const tip = this.lastMark();
      if (tip) await this.writeWritten(tip, written);
      return;
    }
  }

  private path(stage: string, id: string, file?: string): string {
    return `${this.rel}${stage}/${id}${file ? `/${file}` : ""}`;
  }

  private changeOf(snapshot: Snapshot): Change {
    return { ...this.mergedChange([snapshot]), message: snapshot.message, at: snapshot.at };
  }

  /** The job's directories in every other stage removed, its files written where it is. */
  private mergedChange(snapshots: readonly Snapshot[]): Omit<Change, "message"> {
    const removes: string[] = [];
    const writes: Array<readonly [string, Buffer]> = [];
    for (const snapshot of snapshots) {
      for (const stage of STAGE_NAMES) if (stage !== snapshot.stage) removes.push(this.path(stage, snapshot.id));
      if (snapshot.stage === undefined) continue;
      if (snapshot.files.length < AUDITED.length) removes.push(this.path(snapshot.stage, snapshot.id));
      for (const [name, content] of snapshot.files)
        writes.push([this.path(snapshot.stage, snapshot.id, name), content]);
    }
    return { at: Date.now(), removes, writes };
  }

  /**
   * The queue as it is on disk against the log's tree: the files that differ written, the ones
   * gone removed (the first commit of a log holds the whole queue, an older queue included).
   * Undefined when the log already holds the disk.
   */
  private async fullChange(parent: string | undefined): Promise<Change | undefined> {
    const inTree = new Map<string, string>();
    if (parent) {
      const listed = await git(this.top, ["ls-tree", "-r", "-z", "--full-tree", parent]);
      for (const entry of listed.stdout.split("\0")) {
        const tab = entry.indexOf("\t");
        if (tab < 0) continue;
        inTree.set(entry.slice(tab + 1), entry.slice(0, tab).split(" ")[2]!);
      }
    }
    const writes: Array<readonly [string, Buffer]> = [];
    const onDisk = new Set<string>();
    for (const stage of STAGE_NAMES) {
      const entries = await readdir(join(this.queueDir, stage), { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
        for (const file of AUDITED) {
          const path = this.path(stage, entry.name, file);
          const content = await readFile(join(this.queueDir, stage, entry.name, file)).catch(() => undefined);
          if (!content) continue;
          onDisk.add(path);
          if (inTree.get(path) !== blobId(content, this.objectFormat)) writes.push([path, content]);
        }
      }
    }
    const removes = [...inTree.keys()].filter((path) => !onDisk.has(path));
    if (writes.length === 0 && removes.length === 0) return undefined;
    return {
      message: parent
        ? "aq: catch-up (the queue as it is on disk)"
        : "aq: the queue's audit log starts (every job as it is on disk)",
      at: Date.now(),
      deleteAll: !parent,
      removes,
      writes,
    };
  }

  private async fastImport(changes: readonly Change[], parent: string | undefined): Promise<void> {
    const chunks: Buffer[] = [];
    const text = (value: string) => chunks.push(Buffer.from(value));
    const data = (content: Buffer) => {
      text(`data ${content.length}\n`);
      chunks.push(content);
      text("\n");
    };
    changes.forEach((change, i) => {
      text(`commit ${this.options.ref}\nmark :${i + 1}\n`);
      text(`committer ${AUDIT_IDENT} ${Math.floor(change.at / 1000)} +0000\n`);
      data(Buffer.from(change.message));
      if (i === 0 && parent) text(`from ${parent}\n`);
      if (change.deleteAll) text("deleteall\n");
      for (const path of change.removes) text(`D ${quote(path)}\n`);
      for (const [path, content] of change.writes) {
        text(`M 100644 inline ${quote(path)}\n`);
        data(content);
      }
      text("\n");
    });
    text("done\n");
    await runWithInput(
      this.top,
      ["fast-import", "--quiet", "--done", `--export-marks=${this.marksFile}`],
      Buffer.concat(chunks),
      this.env,
      () => crashPoint("git:import-fed"),
    );
  }

  private lastMark(): string | undefined {
    try {
      const marks = readFileSync(this.marksFile, "utf8").trim().split("\n");
      const last = marks
        .map((line) => line.split(" "))
        .sort((a, b) => Number(b[0]!.slice(1)) - Number(a[0]!.slice(1)))[0];
      return last?.[1];
    } catch {
      return undefined;
    } finally {
      void unlink(this.marksFile).catch(() => {});
    }
  }

  /**
   * A lock on the ref left by a killed git. It may be a person's git: it is removed only when no
   * git of an aq writing this log and no git working in the repository at all still runs.
   */
  private async clearStaleRefLock(): Promise<void> {
    const lock = join(this.commonDir, `${this.options.ref}.lock`);
    if (!existsSync(lock)) return;
    if (processesWithEnv(WRITER_ENV, this.options.stateDir).length > 0) return;
    const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    if (age < 1000 || gitRunsIn([this.top, this.commonDir])) return;
    await unlink(lock).catch(() => {});
  }

  /** The ref's commit, read from the repository's files (no process); git is asked where they do not say. */
  private readRef(): string | undefined {
    return readRefFile(this.commonDir, this.options.ref);
  }

  /** The job versions the log's tip holds, as far as aq wrote them (none when someone else moved the ref). */
  private readWritten(tip: string | undefined): Map<string, string> {
    try {
      const saved = JSON.parse(readFileSync(this.writtenFile, "utf8")) as {
        tip?: string;
        versions?: [string, string][];
      };
      if (tip && saved.tip === tip && Array.isArray(saved.versions)) return new Map(saved.versions);
    } catch {
      // none yet
    }
    return new Map();
  }

  private async writeWritten(tip: string, versions: Map<string, string>): Promise<void> {
    const kept = [...versions].slice(-REMEMBERED_VERSIONS);
    await writeFile(this.writtenFile, `${JSON.stringify({ tip, versions: kept })}\n`);
  }
}

/** A job's version: which incarnation (its first history entry) and how many transitions it has had. */
function versionOf(meta: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(meta.toString("utf8")) as { history?: Array<{ at?: string }> };
    const history = Array.isArray(parsed.history) ? parsed.history : [];
    return `${history[0]?.at ?? ""}#${history.length}`;
  } catch {
    return undefined;
  }
}

/** Whether `known` is a later state of the same incarnation than `candidate`. */
function isNewer(known: string | undefined, candidate: string | undefined): boolean {
  if (!known || !candidate) return false;
  const [knownStart, knownCount] = known.split("#");
  const [start, count] = candidate.split("#");
  return knownStart === start && Number(knownCount) > Number(count);
}

function remember(versions: Map<string, string>, id: string, version: string): void {
  versions.delete(id);
  versions.set(id, version);
}

function catchUpMessage(ids: readonly string[]): string {
  const named = ids.slice(0, 5).join(", ");
  return `aq: catch-up (${named}${ids.length > 5 ? `, and ${ids.length - 5} more` : ""}: transitions that could not be committed when they happened)`;
}

/** The id git gives a file's content. */
function blobId(content: Buffer, format: string): string {
  return createHash(format).update(`blob ${content.length}\0`).update(content).digest("hex");
}

/** A path as fast-import reads it: C-style quoted. */
function quote(path: string): string {
  return `"${path.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** Runs git with `input` on its stdin; `fed` is called once it has all of it. */
function runWithInput(
  cwd: string,
  args: readonly string[],
  input: Buffer,
  env: NodeJS.ProcessEnv,
  fed: () => void,
): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn("git", args as string[], { cwd, env, stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.on("error", () => {});
    child.stdin.end(input, fed);
    child.once("error", fail);
    child.once("close", (code, signal) => {
      if (code === 0) return done();
      const detail =
        stderr
          .split("\n")
          .map((line) => line.trim())
          .find((line) => line !== "") ?? `exit ${code ?? signal}`;
      fail(new AqError("AQ_FAILED", `git ${args[0]} failed: ${detail}`, { cause: new Error(stderr) }));
    });
  });
}
