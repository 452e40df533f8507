import { closeSync, type Dirent, lstatSync, readdirSync, renameSync, statSync, writeSync } from "node:fs";
import { mkdir, readdir, readFile, realpath, rename, rm, unlink, writeFile } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { crashPoint } from "./crash-point.ts";
import { AqError, isErrno, oneLine } from "./errors.ts";
import type { GitQueue } from "./git-queue.ts";
import { DEFAULT_QUEUE_REF } from "./queue-ref.ts";
import { randomHex } from "./random-hex.ts";
import type { JobSpec } from "./job-file.ts";
import { parseJob } from "./job-file.ts";
import { JOB_ID } from "./job-id.ts";
import { withLock } from "./locks.ts";
import {
  type HistoryEntry,
  type JobMeta,
  NO_FOLLOW,
  type Origin,
  type ProcessRef,
  readMeta,
  readMetaSync,
  writeMeta,
} from "./meta.ts";
import { openForAppend } from "./queue-file.ts";
import { QueuedIndex, type QueuedListing } from "./queued-index.ts";
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
/**
 * The meta of a transition under way: written into the job's directory before its rename, so
 * the new stage and its meta (backoff, attempts, owner, reason) become visible in one step. In
 * the directory of its `stage` it is the job's meta; anywhere else it is a move that never happened.
 */
export const NEXT_META_FILE = "meta.next.json";
export const LOG_FILE = "log.txt";
/** An agent CLI's structured output as it printed it (log.txt holds the readable version). */
export const AGENT_LOG_FILE = "agent.jsonl";

const REASON_STAGES: ReadonlySet<Stage> = new Set(["failed", "blocked", "dead_letter", "quarantine"]);
const GITIGNORE = [
  ".aq/",
  ".worktrees/",
  "*/*/log.txt",
  "*/*/prompt.txt",
  "*/*/agent.jsonl",
  "*/*/meta.json.corrupt.*",
  "",
].join("\n");

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
  private readonly gitOptions: { ref: string; warn?: ((message: string) => void) | undefined };
  private readonly queuedIndex: QueuedIndex<JobRecord, BrokenJob>;
  /** A one-shot reader (status) reads every meta.json once: caching them would only cost a stat each. */
  private readonly cacheMetas: boolean;

  private constructor(
    root: string,
    gitMode: boolean | "auto",
    gitOptions: { ref: string; warn?: ((message: string) => void) | undefined },
    cacheMetas = true,
  ) {
    this.root = root;
    this.gitMode = gitMode;
    this.gitOptions = gitOptions;
    this.cacheMetas = cacheMetas;
    this.queuedIndex = new QueuedIndex(join(root, "queued"));
  }

  /** The git-queue, found on the first commit (a read-only command never asks git, nor loads its code). */
  gitQueue(): Promise<GitQueue | undefined> {
    return (this.detected ??=
      this.gitMode === false
        ? Promise.resolve(undefined)
        : import("./git-queue.ts").then(({ GitQueue }) =>
            GitQueue.detect(this.root, {
              ...this.gitOptions,
              stateDir: this.stateDir("git"),
              lockPath: this.lockPath("git"),
            }),
          ));
  }

  /** Opens the queue, creating its skeleton; `readOnly` (status, logs) creates nothing and reads what is there. */
  static async open(
    root: string,
    options: {
      gitQueue?: boolean | "auto";
      gitRef?: string | undefined;
      readOnly?: boolean;
      warn?: (message: string) => void;
    } = {},
  ): Promise<QueueStore> {
    const gitOptions = { ref: options.gitRef ?? DEFAULT_QUEUE_REF, warn: options.warn };
    if (options.readOnly)
      return new QueueStore(
        await realpath(root).catch(() => resolve(root)),
        options.gitQueue ?? "auto",
        gitOptions,
        false,
      );
    await mkdir(root, { recursive: true });
    const real = await realpath(root);
    await Promise.all([
      ...STAGE_NAMES.map((stage) => mkdir(join(real, stage), { recursive: true })),
      mkdir(join(real, ".aq", "tmp"), { recursive: true }),
    ]);
    // Written once: a person's edits stay (a queue made by an older aq lacks the agent.jsonl line).
    await writeFile(join(real, ".gitignore"), GITIGNORE, { flag: "wx" }).catch((error) => {
      if (!isErrno(error, "EEXIST")) throw error;
    });
    const mode = options.gitQueue ?? "auto";
    const store = new QueueStore(real, mode, gitOptions);
    if (mode === true && !(await store.gitQueue()))
      throw new AqError("AQ_BAD_CONFIG", `gitQueue is true but ${real} is not inside a git work tree`);
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

  /** The lock every process takes to create, move or rewrite one job. */
  jobLock(id: string): string {
    return this.lockPath(join("jobs", id));
  }

  stateDir(...parts: string[]): string {
    return join(this.root, ".aq", ...parts);
  }

  /** The stage a job is in now, from the directory that holds it. */
  async locate(id: string): Promise<Stage | undefined> {
    return STAGE_NAMES.find((stage) => existsNow(this.jobDir(stage, id)));
  }

  async get(id: string): Promise<JobRecord> {
    const stage = await this.locate(id);
    if (!stage) throw new AqError("AQ_NOT_FOUND", `no job ${JSON.stringify(id)} in ${this.root}`);
    return this.read(stage, id);
  }

  /** Reads a job; the directory is the truth for its stage even if a crash left meta.json behind. */
  async read(stage: Stage, id: string): Promise<JobRecord> {
    const dir = this.jobDir(stage, id);
    const meta = pendingMeta(dir, stage) ?? (await readMeta(join(dir, META_FILE)));
    return { id, stage, dir, meta: meta.stage === stage ? meta : { ...meta, stage } };
  }

  async readSpec(record: { dir: string; id: string }): Promise<JobSpec> {
    const text = await readFile(join(record.dir, JOB_FILE), { encoding: "utf8", flag: NO_FOLLOW }).catch((error) => {
      throw new AqError("AQ_BAD_JOB", `${record.id}: job.md cannot be read: ${oneLine(error)}`);
    });
    return parseJob(text, `${record.id}/job.md`);
  }

  /** The job directories of a stage, read synchronously: a listing reads every meta.json in them synchronously anyway. */
  ids(stage: Stage): string[] {
    let entries: Dirent[];
    try {
      entries = readdirSync(this.stageDir(stage), { withFileTypes: true });
    } catch {
      return [];
    }
    return entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith(".")).map((entry) => entry.name);
  }

  async list(stages: readonly Stage[] = STAGE_NAMES): Promise<{ jobs: JobRecord[]; broken: BrokenJob[] }> {
    const jobs: JobRecord[] = [];
    const broken: BrokenJob[] = [];
    await this.each(stages, (record) => {
      if ("meta" in record) jobs.push(record);
      else broken.push(record);
    });
    return { jobs, broken };
  }

  /**
   * The jobs of these stages as list() finds them, handed over one at a time: a reader that keeps
   * only a little of each (status keeps its row) lets every meta go as soon as it is read.
   */
  async each(stages: readonly Stage[], take: (record: JobRecord | BrokenJob) => void): Promise<void> {
    for (const stage of stages) {
      const stageDir = this.stageDir(stage);
      // What jobDir's join gives, without normalizing once per job: a directory entry holds no separator, and "."-names are skipped.
      for (const id of this.ids(stage)) take(this.record(stage, id, stageDir + sep + id));
    }
  }

  /**
   * A meta.json that names the stage its directory is in is the job's meta: a transition under way
   * (meta.next.json) matters only while meta.json still names the stage the job left, so the
   * listing looks for one only then (one lstat fewer per job).
   */
  private record(stage: Stage, id: string, dir: string): JobRecord | BrokenJob {
    const path = dir + sep + META_FILE;
    let meta: JobMeta | undefined;
    let problem: unknown;
    try {
      meta = this.cacheMetas ? this.cachedMeta(path) : readMetaSync(path);
      if (meta.stage === stage) return { id, stage, dir, meta };
    } catch (error) {
      problem = error;
    }
    try {
      const pending = pendingMeta(dir, stage);
      if (pending) return { id, stage, dir, meta: pending };
    } catch (error) {
      problem ??= error;
    }
    if (meta) return { id, stage, dir, meta: { ...meta, stage } };
    return { id, stage, dir, problem: oneLine(problem) };
  }

  /**
   * queued/ in claim order, from the listing this process keeps (see queued-index.ts) unless
   * queued/ changed in a way this process did not make, or `fresh` asks for a reading.
   */
  queued(options: { fresh?: boolean } = {}): Promise<QueuedListing<JobRecord, BrokenJob>> {
    return this.queuedIndex.get(async () => {
      const jobs: JobRecord[] = [];
      const broken: BrokenJob[] = [];
      let strays = false;
      const entries = await readdir(this.stageDir("queued"), { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (entry.name.startsWith(".")) continue;
        if (!entry.isDirectory()) {
          strays = true;
          continue;
        }
        if (!JOB_ID.test(entry.name)) strays = true;
        const record = this.record("queued", entry.name, this.jobDir("queued", entry.name));
        if ("meta" in record) jobs.push(record);
        else {
          broken.push(record);
          strays = true;
        }
      }
      return { jobs, broken, strays };
    }, options);
  }

  /** Forgets the listing of queued/ (a claim found it no longer matches the disk). */
  forgetQueued(): void {
    this.queuedIndex.invalidate();
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

  /**
   * Writes a new job in a scratch directory, then renames it into its stage in one step. Of two
   * processes creating one id, exactly one succeeds: the check and the rename happen under the
   * job's lock, which every move of that job takes too.
   */
  async create(
    job: NewJob,
    options: {
      stage?: "queued" | "assigned" | "failed";
      by: string;
      reason?: string;
      owner?: ProcessRef;
      mark?: string;
    },
  ): Promise<JobRecord> {
    const stage = options.stage ?? "queued";
    const existing = await this.locate(job.id);
    if (existing) throw new AqError("AQ_CONFLICT", `a job with id ${job.id} already exists (in ${existing}/)`);
    const now = new Date().toISOString();
    const history: HistoryEntry[] = [{ from: null, to: "queued", at: now, by: options.by }];
    if (stage !== "queued")
      history.push({
        from: "queued",
        to: stage,
        at: now,
        by: options.by,
        ...(options.reason ? { reason: options.reason } : {}),
      });
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
      ...(options.mark ? { mark: options.mark } : {}),
      ...job.extra,
    };
    await withLock(
      this.jobLock(job.id),
      async () => {
        const raced = await this.locate(job.id);
        if (raced) throw new AqError("AQ_CONFLICT", `a job with id ${job.id} already exists (in ${raced}/)`);
        const scratch = this.stateDir("tmp", `${job.id}.${randomHex(4)}`);
        await mkdir(scratch, { recursive: true });
        try {
          await writeFile(join(scratch, JOB_FILE), job.text);
          await writeMeta(join(scratch, META_FILE), meta);
          crashPoint("create:scratch-written");
          const dir = this.jobDir(stage, job.id);
          if (stage === "queued")
            await this.queuedIndex.renamed({ added: () => ({ id: job.id, stage, dir, meta }) }, () =>
              rename(scratch, dir),
            );
          else await rename(scratch, dir);
        } catch (error) {
          await rm(scratch, { recursive: true, force: true });
          if (isErrno(error, "ENOTEMPTY", "EEXIST"))
            throw new AqError("AQ_CONFLICT", `a job with id ${job.id} already exists (in ${stage}/)`);
          throw error;
        }
        crashPoint("create:renamed");
        await this.commit(job.id, `aq: ${job.id} → ${stage}`);
      },
      "create",
    );
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

  /**
   * One durable step: the new meta is written into the job's directory (meta.next.json), the
   * directory is renamed, then the new meta takes meta.json's place. A crash between any two
   * of these is finished or rolled back by the next reader that holds the job's lock (settle).
   */
  private async moveNow(
    id: string,
    from: Stage,
    to: Stage,
    options: MoveOptions,
  ): Promise<{ before: JobMeta; after: JobMeta }> {
    return withLock(
      this.jobLock(id),
      async () => {
        const fromDir = this.jobDir(from, id);
        const toDir = this.jobDir(to, id);
        await this.settleNow(from, id);
        let before: JobMeta;
        try {
          before = readMetaSync(join(fromDir, META_FILE));
        } catch (error) {
          if (!(error instanceof AqError) || error.code !== "AQ_NOT_FOUND" || existsNow(fromDir)) throw error;
          throw await this.notIn(id, from);
        }
        let after: JobMeta = {
          ...before,
          stage: to,
          history: [
            ...before.history,
            {
              from,
              to,
              at: new Date().toISOString(),
              by: options.by,
              ...(options.reason ? { reason: options.reason } : {}),
            },
          ],
        };
        if (REASON_STAGES.has(to) && options.reason) after.reason = options.reason;
        else delete after.reason;
        // Whoever moves a job out of failed/ (a person's retry, the requeue itself) takes its pending next step with it.
        if (from === "failed") delete after.requeue;
        if (options.patch) after = options.patch(after);
        await writeMeta(join(fromDir, NEXT_META_FILE), after);
        crashPoint("move:next-meta-written");
        try {
          const renameDir = async () => renameSync(fromDir, toDir);
          if (from === "queued") await this.queuedIndex.renamed({ removed: id }, renameDir);
          else if (to === "queued") {
            const added = () => ({ id, stage: to, dir: toDir, meta: after });
            await this.queuedIndex.renamed({ added }, renameDir);
          } else await renameDir();
        } catch (error) {
          await unlink(join(fromDir, NEXT_META_FILE)).catch(() => {});
          if (!isErrno(error, "ENOENT", "ENOTEMPTY", "EEXIST")) throw error;
          throw await this.notIn(id, from);
        }
        crashPoint("move:renamed");
        renameSync(join(toDir, NEXT_META_FILE), join(toDir, META_FILE));
        crashPoint("move:meta-settled");
        await this.commit(id, `aq: ${id} ${from} → ${to}${options.reason ? ` (${options.reason})` : ""}`);
        return { before: { ...before, stage: from }, after };
      },
      "move",
    );
  }

  private async notIn(id: string, from: Stage): Promise<AqError> {
    const now = await this.locate(id);
    return new AqError(
      now ? "AQ_CONFLICT" : "AQ_NOT_FOUND",
      now ? `job ${id} is in ${now}/, not ${from}/` : `no job ${JSON.stringify(id)} in ${this.root}`,
    );
  }

  /** Rewrites a job's meta in place, wherever the job is now (`stage` is where to look first). */
  async update(
    id: string,
    stage: Stage | undefined,
    patch: (meta: JobMeta) => JobMeta,
    options: { commit?: string; durable?: boolean } = {},
  ): Promise<JobMeta> {
    return this.serialized(id, () =>
      withLock(
        this.jobLock(id),
        async () => {
          const now = stage !== undefined && existsNow(this.jobDir(stage, id)) ? stage : await this.locate(id);
          if (!now) throw new AqError("AQ_NOT_FOUND", `no job ${JSON.stringify(id)} in ${this.root}`);
          await this.settleNow(now, id);
          const path = join(this.jobDir(now, id), META_FILE);
          const meta = patch(readMetaSync(path));
          await writeMeta(path, meta, options.durable === false ? { durable: false } : {});
          if (now === "queued") this.queuedIndex.touched();
          if (options.commit) await this.commit(id, options.commit);
          return meta;
        },
        "update",
      ),
    );
  }

  /** Writes a fresh meta.json for a job (adoption and repair); the caller holds no lock on it. */
  async replaceMeta(stage: Stage, id: string, meta: JobMeta): Promise<void> {
    await withLock(this.jobLock(id), () => writeMeta(join(this.jobDir(stage, id), META_FILE), meta), "repair");
    if (stage === "queued") this.queuedIndex.touched();
  }

  /** Finishes or rolls back a transition a crash left half-done in this job's directory. */
  async settle(stage: Stage, id: string): Promise<void> {
    await withLock(this.jobLock(id), () => this.settleNow(stage, id), "settle");
  }

  private async settleNow(stage: Stage, id: string): Promise<void> {
    const dir = this.jobDir(stage, id);
    const next = join(dir, NEXT_META_FILE);
    const pending = pendingMeta(dir, stage, { any: true });
    if (pending === undefined) return;
    if (pending && pending.stage === stage) renameSync(next, join(dir, META_FILE));
    else await unlink(next).catch(() => {});
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith(".") && name.endsWith(".tmp")) await unlink(join(dir, name)).catch(() => {});
    }
    if (stage === "queued") this.queuedIndex.touched();
  }

  /** Commits what the audit log still lacks of this process's transitions (a runner's end). */
  async flushAudit(): Promise<void> {
    if (this.detected) await (await this.detected)?.flush();
  }

  /** Appends to a job's log; a link planted in its place is refused, not followed. */
  async appendLog(record: { dir: string }, text: string): Promise<void> {
    const fd = openForAppend(join(record.dir, LOG_FILE));
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
  }

  private async commit(id: string, message: string): Promise<void> {
    await (await this.gitQueue())?.commitJob(id, message);
  }
}

/**
 * The meta of a transition that reached this directory but not yet meta.json (see
 * NEXT_META_FILE). With `any`, also one that did not (null): something to settle either way.
 */
export function pendingMeta(dir: string, stage: Stage, options: { any?: boolean } = {}): JobMeta | null | undefined {
  const path = join(dir, NEXT_META_FILE);
  if (!lstatSync(path, { throwIfNoEntry: false })) return undefined;
  let meta: JobMeta;
  try {
    meta = readMetaSync(path);
  } catch (error) {
    if (error instanceof AqError && error.code === "AQ_NOT_FOUND") return undefined;
    return options.any ? null : undefined;
  }
  if (meta.stage === stage) return meta;
  return options.any ? null : undefined;
}

export async function exists(path: string): Promise<boolean> {
  return existsNow(path);
}

/** A stat is a few microseconds: the write path checks synchronously rather than through the thread pool. */
function existsNow(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}
