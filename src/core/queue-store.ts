import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { appendFile, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AqError, isErrno, oneLine } from "./errors.ts";
import { GitQueue } from "./git-queue.ts";
import { idFromStem } from "./job-id.ts";
import type { JobSpec } from "./job-file.ts";
import { parseJob } from "./job-file.ts";
import { type HistoryEntry, type JobMeta, type Origin, type ProcessRef, readMeta, readMetaSync, writeMeta } from "./meta.ts";
import { STAGE_NAMES, type Stage, canMove } from "./stages.ts";

export interface JobRecord {
  readonly id: string;
  readonly stage: Stage;
  readonly dir: string;
  readonly meta: JobMeta;
}

/** A job directory that cannot be read as a job (a crash mid-write, a hand edit). */
export interface BrokenJob {
  readonly id: string;
  readonly stage: Stage;
  readonly dir: string;
  readonly problem: string;
}

export interface NewJob {
  readonly id: string;
  readonly text: string;
  readonly spec: JobSpec;
  readonly origin: Origin;
  readonly extra?: Record<string, unknown>;
}

export interface MoveOptions {
  readonly by: string;
  readonly reason?: string;
  readonly patch?: (meta: JobMeta) => JobMeta;
}

export const JOB_FILE = "job.md";
export const META_FILE = "meta.json";
export const LOG_FILE = "log.txt";
/** An agent CLI's structured output as it printed it (log.txt holds the readable version). */
export const AGENT_LOG_FILE = "agent.jsonl";

const REASON_STAGES: ReadonlySet<Stage> = new Set(["failed", "blocked", "dead_letter", "quarantine"]);
const GITIGNORE = [".aq/", ".worktrees/", "*/*/log.txt", "*/*/prompt.txt", "*/*/agent.jsonl", "*/*/meta.json.corrupt.*", ""].join("\n");

/**
 * The queue on disk: one directory per stage, one directory per job, and a stage transition
 * is one rename(2) of the job's directory. meta.json is only ever replaced atomically.
 * This layer knows nothing of hooks or engines.
 */
export class QueueStore {
  readonly root: string;
  private readonly gitMode: boolean | "auto";
  private detected: Promise<GitQueue | undefined> | undefined;
  private readonly metaQueues = new Map<string, Promise<void>>();
  private readonly metaCache = new Map<string, { stamp: string; meta: JobMeta }>();

  private constructor(root: string, gitMode: boolean | "auto") {
    this.root = root;
    this.gitMode = gitMode;
  }

  /** The git-queue, found on the first commit (a read-only command never asks git). */
  private gitQueue(): Promise<GitQueue | undefined> {
    return (this.detected ??= this.gitMode === false ? Promise.resolve(undefined) : GitQueue.detect(this.root, join(this.root, ".aq", "locks", "git")));
  }

  /** Opens the queue, creating its skeleton; `readOnly` (status, logs) creates nothing and reads what is there. */
  static async open(root: string, options: { gitQueue?: boolean | "auto"; readOnly?: boolean } = {}): Promise<QueueStore> {
    if (options.readOnly) return new QueueStore(await realpath(root).catch(() => resolve(root)), options.gitQueue ?? "auto");
    await mkdir(root, { recursive: true });
    const real = await realpath(root);
    await Promise.all([...STAGE_NAMES.map((stage) => mkdir(join(real, stage), { recursive: true })), mkdir(join(real, ".aq", "tmp"), { recursive: true })]);
    // Written once: a person's edits stay (a queue made by an older aq lacks the agent.jsonl line).
    await writeFile(join(real, ".gitignore"), GITIGNORE, { flag: "wx" }).catch((error) => {
      if (!isErrno(error, "EEXIST")) throw error;
    });
    const mode = options.gitQueue ?? "auto";
    const store = new QueueStore(real, mode);
    if (mode === true && !(await store.gitQueue())) throw new AqError("AQ_BAD_CONFIG", `gitQueue is true but ${real} is not inside a git work tree`);
    return store;
  }


  stageDir(stage: Stage): string {
    return join(this.root, stage);
  }

  jobDir(stage: Stage, id: string): string {
    return join(this.root, stage, id);
  }

  /** Where cross-process locks live: named job locks, the claim lock, the git lock. */
  lockPath(name: string): string {
    return join(this.root, ".aq", "locks", name);
  }

  stateDir(...parts: string[]): string {
    return join(this.root, ".aq", ...parts);
  }

  /** The stage a job is in now, from the directory that holds it. */
  async locate(id: string): Promise<Stage | undefined> {
    const found = await Promise.all(STAGE_NAMES.map(async (stage) => ((await exists(this.jobDir(stage, id))) ? stage : undefined)));
    return found.find((stage) => stage !== undefined);
  }

  async get(id: string): Promise<JobRecord> {
    const stage = await this.locate(id);
    if (!stage) throw new AqError("AQ_NOT_FOUND", `no job ${JSON.stringify(id)} in ${this.root}`);
    return this.read(stage, id);
  }

  /** Reads a job; the directory is the truth for its stage even if a crash left meta.json behind. */
  async read(stage: Stage, id: string): Promise<JobRecord> {
    const dir = this.jobDir(stage, id);
    const meta = await readMeta(join(dir, META_FILE));
    return { id, stage, dir, meta: meta.stage === stage ? meta : { ...meta, stage } };
  }

  async readSpec(record: { dir: string; id: string }): Promise<JobSpec> {
    const text = await readFile(join(record.dir, JOB_FILE), "utf8").catch((error) => {
      throw new AqError("AQ_BAD_JOB", `${record.id}: job.md cannot be read: ${oneLine(error)}`);
    });
    return parseJob(text, `${record.id}/job.md`);
  }

  async ids(stage: Stage): Promise<string[]> {
    const entries = await readdir(this.stageDir(stage), { withFileTypes: true }).catch(() => []);
    return entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith(".")).map((entry) => entry.name);
  }

  async list(stages: readonly Stage[] = STAGE_NAMES): Promise<{ jobs: JobRecord[]; broken: BrokenJob[] }> {
    const jobs: JobRecord[] = [];
    const broken: BrokenJob[] = [];
    for (const stage of stages) {
      for (const id of await this.ids(stage)) {
        const dir = this.jobDir(stage, id);
        try {
          const meta = this.cachedMeta(join(dir, META_FILE));
          jobs.push({ id, stage, dir, meta: meta.stage === stage ? meta : { ...meta, stage } });
        } catch (error) {
          broken.push({ id, stage, dir, problem: oneLine(error) });
        }
      }
    }
    return { jobs, broken };
  }

  /**
   * A runner lists queued/ before every claim: a meta.json whose inode, size and mtime did not
   * change since it was last parsed is not read again (a stat instead of a read and a parse).
   * The meta is frozen: every change goes through a patch that returns a new object.
   */
  private cachedMeta(path: string): JobMeta {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return readMetaSync(path);
    const stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    const hit = this.metaCache.get(path);
    if (hit && hit.stamp === stamp) return hit.meta;
    const meta = Object.freeze(readMetaSync(path)) as JobMeta;
    if (this.metaCache.size > 20_000) this.metaCache.clear();
    this.metaCache.set(path, { stamp, meta });
    return meta;
  }

  /** Writes a new job in a scratch directory, then renames it into its stage in one step. */
  async create(job: NewJob, options: { stage?: "queued" | "assigned" | "failed"; by: string; reason?: string; owner?: ProcessRef }): Promise<JobRecord> {
    const stage = options.stage ?? "queued";
    const existing = await this.locate(job.id);
    if (existing) throw new AqError("AQ_CONFLICT", `a job with id ${job.id} already exists (in ${existing}/)`);
    const now = new Date().toISOString();
    const history: HistoryEntry[] = [{ from: null, to: "queued", at: now, by: options.by }];
    if (stage !== "queued") history.push({ from: "queued", to: stage, at: now, by: options.by, ...(options.reason ? { reason: options.reason } : {}) });
    const meta: JobMeta = {
      id: job.id,
      stage,
      attempts: stage === "assigned" ? 1 : 0,
      priority: job.spec.priority ?? 0,
      createdAt: now,
      origin: job.origin,
      history,
      ...(job.spec.lock ? { lock: job.spec.lock } : {}),
      ...(job.spec.tracker ? { tracker: job.spec.tracker } : {}),
      ...(options.reason ? { reason: options.reason } : {}),
      ...(options.owner ? { owner: options.owner } : {}),
      ...job.extra,
    };
    const scratch = this.stateDir("tmp", `${job.id}.${randomBytes(4).toString("hex")}`);
    await mkdir(scratch, { recursive: true });
    try {
      await writeFile(join(scratch, JOB_FILE), job.text);
      await writeMeta(join(scratch, META_FILE), meta);
      await rename(scratch, this.jobDir(stage, job.id));
    } catch (error) {
      await rm(scratch, { recursive: true, force: true });
      if (isErrno(error, "ENOTEMPTY", "EEXIST")) throw new AqError("AQ_CONFLICT", `a job with id ${job.id} already exists (in ${stage}/)`);
      throw error;
    }
    await this.commit(job.id, `aq: ${job.id} → ${stage}`);
    return { id: job.id, stage, dir: this.jobDir(stage, job.id), meta };
  }

  /**
   * Moves a job from one stage to another: the rename is the transition (of two racing movers
   * exactly one wins), then meta.json records it. Throws AQ_CONFLICT if the job is not in `from`.
   */
  async move(id: string, from: Stage, to: Stage, options: MoveOptions): Promise<{ before: JobMeta; after: JobMeta }> {
    if (!canMove(from, to)) throw new AqError("AQ_CONFLICT", `job ${id} cannot move from ${from} to ${to}`);
    return this.serialized(id, () => this.moveNow(id, from, to, options));
  }

  /**
   * meta.json is read, changed and written back by the runner, by plugins (an outbox, a lease)
   * and by timers: within one process these never interleave for one job, so none is lost.
   */
  private serialized<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.metaQueues.get(id) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.then(
      () => {},
      () => {},
    );
    this.metaQueues.set(id, settled);
    void settled.then(() => {
      if (this.metaQueues.get(id) === settled) this.metaQueues.delete(id);
    });
    return next;
  }

  private async moveNow(id: string, from: Stage, to: Stage, options: MoveOptions): Promise<{ before: JobMeta; after: JobMeta }> {
    try {
      await rename(this.jobDir(from, id), this.jobDir(to, id));
    } catch (error) {
      if (!isErrno(error, "ENOENT", "ENOTEMPTY", "EEXIST")) throw error;
      const now = await this.locate(id);
      throw new AqError(now ? "AQ_CONFLICT" : "AQ_NOT_FOUND", now ? `job ${id} is in ${now}/, not ${from}/` : `no job ${JSON.stringify(id)} in ${this.root}`);
    }
    const dir = this.jobDir(to, id);
    const before = await readMeta(join(dir, META_FILE));
    let after: JobMeta = {
      ...before,
      stage: to,
      history: [...before.history, { from, to, at: new Date().toISOString(), by: options.by, ...(options.reason ? { reason: options.reason } : {}) }],
    };
    if (REASON_STAGES.has(to) && options.reason) after.reason = options.reason;
    else delete after.reason;
    if (options.patch) after = options.patch(after);
    await writeMeta(join(dir, META_FILE), after);
    await this.commit(id, `aq: ${id} ${from} → ${to}${options.reason ? ` (${options.reason})` : ""}`);
    return { before: { ...before, stage: from }, after };
  }

  /** Rewrites a job's meta in place (no transition): engine pid, wip, plugin state. */
  /** Rewrites a job's meta in place, wherever the job is now (`stage` is where to look first). */
  async update(id: string, stage: Stage | undefined, patch: (meta: JobMeta) => JobMeta, options: { commit?: string } = {}): Promise<JobMeta> {
    return this.serialized(id, async () => {
      const now = stage !== undefined && (await exists(join(this.jobDir(stage, id), META_FILE))) ? stage : await this.locate(id);
      if (!now) throw new AqError("AQ_NOT_FOUND", `no job ${JSON.stringify(id)} in ${this.root}`);
      const path = join(this.jobDir(now, id), META_FILE);
      const meta = patch(await readMeta(path));
      await writeMeta(path, meta);
      if (options.commit) await this.commit(id, options.commit);
      return meta;
    });
  }

  async appendLog(record: { dir: string }, text: string): Promise<void> {
    await appendFile(join(record.dir, LOG_FILE), text);
  }

  /**
   * Takes in what a person or a crash left in queued/: `.md` files dropped there (the stem
   * becomes the id) and job directories without a readable meta.json. Each becomes a queued
   * job, or a failed one with a one-line reason. Nothing is deleted but the adopted file.
   */
  async adopt(by: string, options: { directories?: readonly string[] } = {}): Promise<{ adopted: string[]; rejected: Array<{ id: string; problem: string }> }> {
    const adopted: string[] = [];
    const rejected: Array<{ id: string; problem: string }> = [];
    const entries = await readdir(this.stageDir("queued"), { withFileTypes: true }).catch(() => []);
    // A caller that has just listed the queue names the unreadable directories; otherwise all are checked.
    const check = options.directories ? new Set(options.directories) : undefined;
    for (const entry of entries) {
      if (entry.name.startsWith(".")) continue;
      if (entry.isFile() && entry.name.endsWith(".md")) {
        const outcome = await this.adoptFile(entry.name, by);
        if (outcome?.problem) rejected.push({ id: outcome.id, problem: outcome.problem });
        else if (outcome) adopted.push(outcome.id);
      } else if (entry.isDirectory() && (!check || check.has(entry.name))) {
        const outcome = await this.adoptDirectory(entry.name, by);
        if (outcome) rejected.push(outcome);
      }
    }
    return { adopted, rejected };
  }

  private async adoptFile(name: string, by: string): Promise<{ id: string; problem?: string } | undefined> {
    const path = join(this.stageDir("queued"), name);
    if (!(await settled(path))) return undefined; // still being written: next round
    const text = await readFile(path, "utf8").catch(() => undefined);
    if (text === undefined) return undefined; // another runner took it
    const stem = name.slice(0, -3);
    let id = idFromStem(stem) ?? `job-${randomBytes(3).toString("hex")}`;
    const existing = await this.locate(id);
    if (existing) {
      const same = await readFile(join(this.jobDir(existing, id), JOB_FILE), "utf8").catch(() => undefined);
      if (same === text) {
        await rm(path, { force: true }); // adopted before a crash; only the file was left
        return undefined;
      }
      id = `${id}-${randomBytes(2).toString("hex")}`;
    }
    let spec: JobSpec | undefined;
    let problem: string | undefined;
    try {
      spec = parseJob(text, name);
    } catch (error) {
      problem = oneLine(error);
    }
    const job: NewJob = { id, text, spec: spec ?? { frontmatter: {}, unknownKeys: [], body: text }, origin: { kind: "local", adoptedFrom: name } };
    try {
      await this.create(job, problem ? { stage: "failed", by, reason: problem } : { by });
    } catch (error) {
      if (error instanceof AqError && error.code === "AQ_CONFLICT") return undefined; // a racing runner adopted it
      throw error;
    }
    await rm(path, { force: true });
    return problem ? { id, problem } : { id };
  }

  /** A directory in queued/ whose meta.json is missing or unreadable. */
  private async adoptDirectory(id: string, by: string): Promise<{ id: string; problem: string } | undefined> {
    const dir = this.jobDir("queued", id);
    try {
      await readMeta(join(dir, META_FILE));
      return undefined;
    } catch (error) {
      if (!(error instanceof AqError)) throw error;
      const text = await readFile(join(dir, JOB_FILE), "utf8").catch(() => undefined);
      let problem = error.code === "AQ_NOT_FOUND" ? undefined : `meta.json unreadable: ${oneLine(error).replace(`${join(dir, META_FILE)}: `, "")}`;
      let spec: JobSpec | undefined;
      if (text === undefined) problem = "job.md is missing (a half-written job directory)";
      else {
        try {
          spec = parseJob(text, `${id}/job.md`);
        } catch (parseError) {
          problem ??= oneLine(parseError);
        }
      }
      await this.repairMeta(id, dir, spec, problem, by);
      if (problem) {
        await this.move(id, "queued", "failed", { by, reason: problem });
        return { id, problem };
      }
      return undefined;
    }
  }

  /** Writes a fresh meta.json for a job whose own is missing or corrupt, keeping the old file aside. */
  private async repairMeta(id: string, dir: string, spec: JobSpec | undefined, problem: string | undefined, by: string): Promise<void> {
    const metaPath = join(dir, META_FILE);
    if (await exists(metaPath)) await rename(metaPath, `${metaPath}.corrupt.${Date.now()}`);
    const now = new Date().toISOString();
    const meta: JobMeta = {
      id,
      stage: "queued",
      attempts: 0,
      priority: spec?.priority ?? 0,
      createdAt: now,
      origin: { kind: "local" },
      history: [{ from: null, to: "queued", at: now, by, reason: problem ? "meta.json repaired" : "adopted" }],
      ...(spec?.lock ? { lock: spec.lock } : {}),
    };
    await writeMeta(metaPath, meta);
  }

  private async commit(id: string, message: string): Promise<void> {
    await (await this.gitQueue())?.commitJob(id, message);
  }
}

/** A file someone may still be writing (`cp job.md queue/queued/`) is adopted once it stops changing. */
async function settled(path: string, quietMs = 200): Promise<boolean> {
  const first = await stat(path).catch(() => undefined);
  if (!first) return false;
  const age = Date.now() - first.mtimeMs;
  if (age >= quietMs) return true;
  await new Promise((resolve) => setTimeout(resolve, quietMs - age));
  const second = await stat(path).catch(() => undefined);
  return second !== undefined && second.size === first.size && second.mtimeMs === first.mtimeMs;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
