import { existsSync, readFileSync, statSync } from "node:fs";
import { appendFile, mkdir, readFile, readdir, rm, unlink, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { crashPoint } from "./crash-point.ts";
import { type AqError, oneLine } from "./errors.ts";
import { git, gitEnv, gitMaybe } from "./git.ts";
import { withLock } from "./locks.ts";
import { gitRunsIn, processesWithEnv } from "./proc-scan.ts";
import { STAGE_NAMES } from "./stages.ts";

export const DEFAULT_QUEUE_REF = "refs/heads/aq-queue";
/** The files of a job that the audit log keeps; logs, prompts and the agent's stream stay out. */
const AUDITED = ["job.md", "meta.json"] as const;
const FALLBACK_IDENTITY = {
  GIT_AUTHOR_NAME: "aq",
  GIT_AUTHOR_EMAIL: "aq@localhost",
  GIT_COMMITTER_NAME: "aq",
  GIT_COMMITTER_EMAIL: "aq@localhost",
};
const ZERO = "0".repeat(40);

export interface GitQueueOptions {
  /** The ref the audit log is committed on. */
  readonly ref: string;
  /** Where the private index lives (the queue's `.aq/git`). */
  readonly stateDir: string;
  /** aq's own lock that serializes the commits of every process of this queue. */
  readonly lockPath: string;
  /** Told once per process when a commit could not be made (it is caught up later). */
  readonly warn?: ((message: string) => void) | undefined;
}

/**
 * The offline git-queue: when the queue directory is inside a git work tree, each transition is
 * a commit on a ref of its own (`refs/heads/aq-queue`), made with git's plumbing through a private
 * index, so the person's index, HEAD, branch and working tree are never touched. The ref moves by
 * compare-and-swap; commits of concurrent processes are serialized by aq's lock. The directories
 * on disk are the truth: a commit that cannot be made now is made with the next one (catch-up),
 * and it never fails a transition.
 */
export class GitQueue {
  private readonly top: string;
  private readonly commonDir: string;
  private readonly rel: string;
  private readonly options: GitQueueOptions;
  private readonly index: string;
  private readonly baseFile: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly pending = new Set<string>();
  private identityEnv: NodeJS.ProcessEnv | undefined;
  private warned = false;

  private constructor(top: string, commonDir: string, queueDir: string, options: GitQueueOptions) {
    this.top = top;
    this.commonDir = commonDir;
    const rel = relative(top, queueDir).split("\\").join("/");
    this.rel = rel === "" ? "" : `${rel}/`;
    this.options = options;
    this.index = join(options.stateDir, "index");
    this.baseFile = join(options.stateDir, "base");
    this.env = gitEnv({ GIT_INDEX_FILE: this.index, GIT_WORK_TREE: top });
  }

  static async detect(queueDir: string, options: GitQueueOptions): Promise<GitQueue | undefined> {
    const answer = await gitMaybe(queueDir, ["rev-parse", "--show-toplevel", "--git-common-dir"]);
    const [top, common] = answer?.split("\n") ?? [];
    if (!top || !common) return undefined;
    const queue = new GitQueue(top, resolve(queueDir, common), queueDir, options);
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

  /** Commits the job's files (in whichever stage they are now) on the audit ref; never throws. */
  async commitJob(id: string, message: string): Promise<void> {
    // This job's files, and those of transitions whose commit failed before (caught up now).
    const ids = [id, ...this.pending];
    try {
      await withLock(this.options.lockPath, () => this.commitNow(message, { ids }), "git-queue");
      for (const done of ids) this.pending.delete(done);
    } catch (error) {
      this.pending.add(id);
      if (!this.warned)
        this.options.warn?.(
          `git-queue: could not commit "${message}" on ${this.options.ref}: ${oneLine(error)}; the queue goes on and the next commit catches up`,
        );
      this.warned = true;
    }
  }

  /** Makes the commits that could not be made so far (a runner that stops leaves none behind it can make). */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const ids = [...this.pending];
    try {
      await withLock(
        this.options.lockPath,
        () => this.commitNow("aq: catch-up (transitions that could not be committed when they happened)", { ids }),
        "git-queue",
      );
      for (const done of ids) this.pending.delete(done);
    } catch (error) {
      this.options.warn?.(
        `git-queue: catch-up on ${this.options.ref} failed: ${oneLine(error)}; the next runner makes it`,
      );
    }
  }

  /** Records every job on disk as it is now (a runner's start: transitions a crash left uncommitted). */
  async catchUp(): Promise<void> {
    try {
      const ids = [...this.pending];
      await withLock(
        this.options.lockPath,
        () => this.commitNow("aq: catch-up (the queue as it is on disk)", { all: true, ids }),
        "git-queue",
      );
      for (const done of ids) this.pending.delete(done);
    } catch (error) {
      if (!this.warned) this.options.warn?.(`git-queue: catch-up on ${this.options.ref} failed: ${oneLine(error)}`);
      this.warned = true;
    }
  }

  private async commitNow(message: string, options: { all?: boolean; ids?: readonly string[] } = {}): Promise<void> {
    await this.clearStaleLock(`${this.index}.lock`);
    for (let attempt = 0; ; attempt++) {
      const parent =
        (attempt === 0 ? this.readRef() : undefined) ??
        (await gitMaybe(this.top, ["rev-parse", "--verify", "-q", this.options.ref]));
      const base = this.readBase();
      let all = options.all === true;
      if (!parent) {
        // The first commit of the audit log holds the whole queue (an older queue included).
        await rm(this.index, { force: true });
        all = true;
      } else if (base?.commit !== parent || !existsSync(this.index)) {
        await git(this.top, ["read-tree", parent], { env: this.env });
      }
      await this.stage(all, options.ids ?? []);
      crashPoint("git:index-updated");
      const tree = (await git(this.top, ["write-tree"], { env: this.env })).stdout.trim();
      crashPoint("git:tree-written");
      const parentTree = parent
        ? base?.commit === parent
          ? base.tree
          : (await git(this.top, ["rev-parse", `${parent}^{tree}`])).stdout.trim()
        : undefined;
      if (tree === parentTree) {
        if (base?.commit !== parent) await this.writeBase(parent!, tree);
        return;
      }
      const commit = await this.commitTree(tree, parent, message);
      crashPoint("git:commit-written");
      try {
        await this.updateRef(commit, parent);
      } catch (error) {
        if (
          attempt < 3 &&
          /cannot lock ref|is at .* but expected|reference already exists/i.test(
            String((error as AqError).cause ?? error),
          )
        )
          continue;
        throw error;
      }
      crashPoint("git:ref-updated");
      await this.writeBase(commit, tree);
      return;
    }
  }

  /** The private index takes the job's files as they are on disk now (gone from other stages). */
  private async stage(all: boolean, ids: readonly string[]): Promise<void> {
    const paths = all
      ? await this.allPaths()
      : [...new Set(ids)].flatMap((id) =>
          STAGE_NAMES.flatMap((stage) => AUDITED.map((file) => `${this.rel}${stage}/${id}/${file}`)),
        );
    if (paths.length === 0) return;
    await gitStdin(this.top, ["update-index", "--add", "--remove", "-z", "--stdin"], paths.join("\0"), this.env);
  }

  /** Every audited file on disk, and every one the index still holds (so the gone ones are removed). */
  private async allPaths(): Promise<string[]> {
    const paths = new Set<string>();
    if (existsSync(this.index)) {
      const listed = await git(this.top, ["ls-files", "-z", "--", this.rel || "."], { env: this.env });
      for (const path of listed.stdout.split("\0")) if (path) paths.add(path);
    }
    const root = join(this.top, this.rel);
    for (const stage of STAGE_NAMES) {
      const ids = await readdir(join(root, stage), { withFileTypes: true }).catch(() => []);
      for (const entry of ids) {
        if (!entry.isDirectory() || entry.name.startsWith(".")) continue;
        for (const file of AUDITED)
          if (existsSync(join(root, stage, entry.name, file))) paths.add(`${this.rel}${stage}/${entry.name}/${file}`);
      }
    }
    return [...paths];
  }

  private async commitTree(tree: string, parent: string | undefined, message: string): Promise<string> {
    const args = ["commit-tree", tree, ...(parent ? ["-p", parent] : []), "-m", message];
    try {
      return (await git(this.top, args, { env: this.identityEnv ?? this.env })).stdout.trim();
    } catch (error) {
      if (
        this.identityEnv ||
        !/tell me who you are|auto-detect email|empty ident/i.test(String((error as AqError).cause ?? error))
      )
        throw error;
      this.identityEnv = { ...this.env, ...FALLBACK_IDENTITY };
      return (await git(this.top, args, { env: this.identityEnv })).stdout.trim();
    }
  }

  /** Compare-and-swap: the ref moves only from the parent this commit was made on. */
  private async updateRef(commit: string, parent: string | undefined): Promise<void> {
    try {
      await git(this.top, ["update-ref", "-m", "aq: audit log", this.options.ref, commit, parent ?? ZERO], {
        env: this.env,
      });
    } catch (error) {
      if (!/cannot lock ref|File exists/i.test(String((error as AqError).cause ?? error))) throw error;
      const lock = join(this.commonDir, `${this.options.ref}.lock`);
      if (!(await this.clearStaleLock(lock, { personsGitToo: true }))) throw error;
      await git(this.top, ["update-ref", "-m", "aq: audit log", this.options.ref, commit, parent ?? ZERO], {
        env: this.env,
      });
    }
  }

  /**
   * A git lock file left by a process that was killed. Under aq's own lock the only git that uses
   * the private index is ours: its lock is stale unless a git child of an aq process (it carries
   * our GIT_INDEX_FILE) still runs. A lock in the repository itself (the ref's) may be a person's
   * git: it is removed only when no git process works in the repository at all.
   */
  private async clearStaleLock(lock: string, options: { personsGitToo?: boolean } = {}): Promise<boolean> {
    if (!existsSync(lock)) return false;
    if (processesWithEnv("GIT_INDEX_FILE", this.index).length > 0) return false;
    if (options.personsGitToo) {
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age < 1000 || gitRunsIn([this.top, this.commonDir])) return false;
    }
    await unlink(lock).catch(() => {});
    return true;
  }

  /** The ref's commit, read from the repository's files (no process); git is asked where they do not say. */
  private readRef(): string | undefined {
    if (existsSync(join(this.commonDir, "reftable"))) return undefined;
    try {
      const value = readFileSync(join(this.commonDir, this.options.ref), "utf8").trim();
      if (/^[0-9a-f]{40,64}$/.test(value)) return value;
    } catch {
      // not a loose ref: it may be packed
    }
    try {
      for (const line of readFileSync(join(this.commonDir, "packed-refs"), "utf8").split("\n")) {
        const [sha, name] = line.split(" ");
        if (name === this.options.ref && sha && /^[0-9a-f]{40,64}$/.test(sha)) return sha;
      }
    } catch {
      // no packed refs
    }
    return undefined;
  }

  private readBase(): { commit: string; tree: string } | undefined {
    try {
      const [commit, tree] = readFileSync(this.baseFile, "utf8").trim().split(" ");
      return commit && tree ? { commit, tree } : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeBase(commit: string, tree: string): Promise<void> {
    await writeFile(this.baseFile, `${commit} ${tree}\n`);
  }
}

function gitStdin(cwd: string, args: readonly string[], input: string, env: NodeJS.ProcessEnv): Promise<void> {
  return git(cwd, args, { env, input }).then(() => {});
}
