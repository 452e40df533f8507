import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, readdir, readFile, rm, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { AqError } from "./errors.ts";
import { adminDirOf, headOfWorktree, readRefFile } from "./git-files.ts";
import { git, gitMaybe, gitWithIdentity, repoRoot } from "./git.ts";
import { withLock } from "./locks.ts";
import { gitRunsIn } from "./proc-scan.ts";

export interface Worktree {
  readonly path: string;
  readonly repo: string;
  readonly branch: string;
  readonly baseBranch: string;
  readonly baseCommit: string;
}

export const branchOf = (id: string) => `aq/${id}`;

/**
 * The repository that holds `cwd`, or undefined when it is not in one. Git is asked only when a
 * `.git` is found walking up (or GIT_DIR is set): a job outside any repository costs no process.
 */
export async function findRepo(cwd: string): Promise<string | undefined> {
  if (!process.env.GIT_DIR) {
    let dir = resolve(cwd);
    while (!existsSync(join(dir, ".git"))) {
      const parent = dirname(dir);
      if (parent === dir) return undefined;
      dir = parent;
    }
    // The same directory with the same `.git` is the same repository: asked once per process.
    const known = repoOfDir.get(cwd);
    if (known && existsSync(join(known, ".git"))) return known;
    const root = await repoRoot(cwd);
    if (root) repoOfDir.set(cwd, root);
    return root;
  }
  return repoRoot(cwd);
}

const repoOfDir = new Map<string, string>();
/** Each repository's common git directory (`.git` of its main worktree), asked once per process. */
const commonDirOf = new Map<string, string>();

async function commonDir(repo: string): Promise<string> {
  const known = commonDirOf.get(repo);
  if (known && existsSync(known)) return known;
  const common = resolve(repo, (await git(repo, ["rev-parse", "--git-common-dir"])).stdout.trim());
  commonDirOf.set(repo, common);
  return common;
}

/**
 * Gives a job its own worktree on `aq/<id>`: reused when it is still there and complete (a retry
 * sees the earlier attempt's work), re-attached when only the branch is, created from the base
 * otherwise. A worktree a crash left half made (no index yet: the checkout never finished) is
 * removed and made again from the branch, so no commit is ever made from a half-checked-out tree.
 */
export async function prepareWorktree(input: {
  repo: string;
  id: string;
  root: string;
  previous?: { path: string; baseBranch: string; baseCommit: string } | undefined;
  /** A commit to start a new branch from instead of the base (a checkpoint to resume). */
  startAt?: string | undefined;
}): Promise<Worktree & { created: boolean }> {
  const branch = branchOf(input.id);
  const path = input.previous?.path ?? join(input.root, input.id);
  const base = input.previous ?? (await baseOf(input.repo));
  if (await reusable(path)) return { path, repo: input.repo, branch, ...pick(base), created: false };
  if (existsSync(path) && !isInside(input.root, path))
    throw new AqError(
      "AQ_FAILED",
      `${path} is not a complete worktree and is not under the worktree directory ${input.root}; aq leaves it alone`,
    );
  await mkdir(dirname(path), { recursive: true });
  await serializedInRepo(input.repo, async (common) => {
    if (isInside(input.root, path)) await discardHalfMade(common, path);
    const onBranch = await hasBranch(input.repo, common, branch);
    let args: string[];
    if (onBranch) args = ["worktree", "add", "--quiet", path, branch];
    else {
      const resumable =
        input.startAt && (await gitMaybe(input.repo, ["cat-file", "-e", `${input.startAt}^{commit}`])) !== undefined;
      args = ["worktree", "add", "--quiet", "-b", branch, path, resumable ? input.startAt! : base.baseCommit];
    }
    try {
      await git(input.repo, args);
    } catch (error) {
      // A worktree removed by hand is still registered (its path, or its branch "already checked out"):
      // git forgets the ones whose directory is gone, and the add is tried once more.
      await git(input.repo, ["worktree", "prune"]);
      if (!isInside(input.root, path)) throw error;
      await discardHalfMade(common, path);
      await git(input.repo, args);
    }
  });
  return { path, repo: input.repo, branch, ...pick(base), created: true };
}

/** Whether `path` is inside `dir` (aq touches only worktrees under its worktree directory). */
export function isInside(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

/** Whether the branch exists, from the repository's files where they say (no process). */
async function hasBranch(repo: string, common: string, branch: string): Promise<boolean> {
  if (readRefFile(common, `refs/heads/${branch}`)) return true;
  if (!existsSync(join(common, "reftable"))) return false;
  return branchExists(repo, branch);
}

/**
 * A worktree is reused only when its checkout finished (git writes the index last, after every
 * file) and its HEAD names a branch that is there. A lock a killed git left in it is removed (one
 * of a git that still runs there, a person's, is never removed: the job then fails and is retried
 * later), but a git killed in there may have left its checkout half done: if tracked files are
 * then missing, the tree is not trusted and is made again from the branch, so their deletion is
 * never committed.
 */
async function reusable(path: string): Promise<boolean> {
  const admin = adminDirOf(path);
  if (!admin || !existsSync(join(admin, "index")) || !existsSync(join(admin, "HEAD"))) return false;
  const head = headOfWorktree(path);
  if (head?.ref && head.commonDir && !readRefFile(head.commonDir, head.ref)) {
    if (!existsSync(join(head.commonDir, "reftable"))) return false;
  }
  const lock = join(admin, "index.lock");
  if (existsSync(lock)) {
    if (gitRunsIn([path, admin]))
      throw new AqError(
        "AQ_FAILED",
        `a git command is running in ${path} (its index is locked); the job waits for its next attempt`,
      );
    await unlink(lock).catch(() => {});
    if ((await gitMaybe(path, ["ls-files", "--deleted"])) !== "") return false;
  }
  return true;
}

/** Removes what a killed `git worktree add` left: the directory and its record (even a locked one). */
async function discardHalfMade(common: string, path: string): Promise<void> {
  const admin = adminDirOf(path);
  await rm(path, { recursive: true, force: true });
  const records = admin ? [admin] : [];
  for (const name of await readdir(join(common, "worktrees")).catch(() => [] as string[])) {
    const gitdir = await readFile(join(common, "worktrees", name, "gitdir"), "utf8").catch(() => "");
    if (gitdir && resolve(gitdir.trim()) === join(path, ".git")) records.push(join(common, "worktrees", name));
  }
  for (const record of records)
    if (record.startsWith(join(common, "worktrees"))) await rm(record, { recursive: true, force: true });
}

/**
 * Worktree bookkeeping of one repository, one process at a time: a `git worktree prune` racing
 * another process's `git worktree add` removes the half-made worktree's records.
 */
async function serializedInRepo<T>(repo: string, fn: (common: string) => Promise<T>): Promise<T> {
  const common = await commonDir(repo);
  return withLock(join(common, "aq-worktrees.lock"), () => fn(common), "worktrees");
}

function pick(base: { baseBranch: string; baseCommit: string }) {
  return { baseBranch: base.baseBranch, baseCommit: base.baseCommit };
}

async function baseOf(repo: string): Promise<{ baseBranch: string; baseCommit: string }> {
  const fromFiles = baseFromFiles(repo);
  if (fromFiles) return fromFiles;
  // One process for the common directory, the commit and the branch (the branch is "HEAD" when detached).
  const answer = await gitMaybe(repo, [
    "rev-parse",
    "--git-common-dir",
    "HEAD^{commit}",
    "--symbolic-full-name",
    "HEAD",
  ]);
  const [common, commit, ref] = answer?.split("\n") ?? [];
  if (common && commit && /^[0-9a-f]{40,64}$/.test(commit) && ref) {
    commonDirOf.set(repo, resolve(repo, common));
    return { baseCommit: commit, baseBranch: ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : "" };
  }
  const baseCommit = await gitMaybe(repo, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
  if (!baseCommit)
    throw new AqError("AQ_FAILED", `${repo}: the repository has no commit yet; make one so jobs can branch from it`);
  const baseBranch = (await gitMaybe(repo, ["symbolic-ref", "--short", "-q", "HEAD"])) ?? "";
  return { baseBranch, baseCommit };
}

/** The branch and commit the repository's HEAD is at, from its files (no process); undefined where they do not say. */
function baseFromFiles(repo: string): { baseBranch: string; baseCommit: string } | undefined {
  const common = commonDirOf.get(repo);
  if (!common || process.env.GIT_DIR) return undefined;
  const gitDir = join(repo, ".git");
  let head: string;
  try {
    head = readFileSync(join(isDirectory(gitDir) ? gitDir : (adminDirOf(repo) ?? gitDir), "HEAD"), "utf8").trim();
  } catch {
    return undefined;
  }
  if (/^[0-9a-f]{40,64}$/.test(head)) return { baseBranch: "", baseCommit: head };
  const ref = head.startsWith("ref: refs/heads/") ? head.slice(5) : undefined;
  const commit = ref ? readRefFile(common, ref) : undefined;
  return ref && commit ? { baseBranch: ref.slice("refs/heads/".length), baseCommit: commit } : undefined;
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** The directory inside the worktree that corresponds to `cwd` inside the repository. */
export function workingDirIn(worktree: { path: string; repo: string }, cwd: string): string {
  return join(worktree.path, relative(worktree.repo, cwd));
}

/**
 * Commits everything the engine changed; answers the branch's head (unchanged when nothing
 * changed). With trailers, a commit is made even when nothing changed, so the branch always
 * carries the newest trailers (a fleet job's lease epoch).
 */
export async function commitAll(
  path: string,
  message: string,
  trailers: Readonly<Record<string, string>> = {},
): Promise<string> {
  const trailerArgs = Object.entries(trailers).flatMap(([key, value]) => ["--trailer", `${key}: ${value}`]);
  // Nothing to stage (one process) is the common case of a job that only ran checks.
  if (trailerArgs.length === 0 && (await gitMaybe(path, ["status", "--porcelain"])) === "") return headOf(path);
  await git(path, ["add", "-A"]);
  // With trailers a commit is made even when nothing changed; without, "nothing to commit" is no failure.
  const allowEmpty = trailerArgs.length > 0 ? ["--allow-empty"] : [];
  try {
    await gitWithIdentity(path, ["commit", "-q", "--no-verify", ...allowEmpty, "-m", message, ...trailerArgs]);
  } catch (error) {
    if (allowEmpty.length > 0 || (await gitMaybe(path, ["diff", "--cached", "--quiet"])) === undefined) throw error;
  }
  return headOf(path);
}

export async function headOf(path: string): Promise<string> {
  const head = headOfWorktree(path);
  const commit = head?.commit ?? (head?.ref && head.commonDir ? readRefFile(head.commonDir, head.ref) : undefined);
  return commit ?? (await git(path, ["rev-parse", "HEAD"])).stdout.trim();
}

export async function hasUncommitted(path: string): Promise<boolean> {
  if (!existsSync(path)) return false;
  const status = await gitMaybe(path, ["status", "--porcelain"]);
  return status === undefined ? false : status !== "";
}

/** Commits on `branch` that `into` does not have; undefined when that cannot be told (`into` is gone). */
export async function unmergedCount(repo: string, branch: string, into: string): Promise<number | undefined> {
  const count = await gitMaybe(repo, ["rev-list", "--count", `refs/heads/${into}..refs/heads/${branch}`]);
  return count === undefined ? undefined : Number(count);
}

/**
 * After the engine: the job's work must be on its own branch. An agent that switched to a branch
 * of its own that builds on aq/<id> is followed (aq/<id> moves there and is checked out again);
 * anything else is refused with a reason, the work left where the agent put it.
 */
export async function backOnBranch(path: string, branch: string): Promise<string | undefined> {
  const files = headOfWorktree(path);
  const head = files ? files.ref : await gitMaybe(path, ["symbolic-ref", "-q", "HEAD"]);
  if (head === `refs/heads/${branch}`) return undefined;
  const at = head ? head.replace("refs/heads/", "branch ") : "a detached HEAD";
  await commitAll(path, `aq: work left on ${at}`);
  const tip = await headOf(path);
  if ((await gitMaybe(path, ["merge-base", "--is-ancestor", `refs/heads/${branch}`, tip])) === undefined) {
    return `the engine left the worktree on ${at}, which does not build on ${branch}; its work is there for a person`;
  }
  await git(path, ["update-ref", `refs/heads/${branch}`, tip]);
  await git(path, ["checkout", "-q", branch]);
  return undefined;
}

/** A merge, cherry-pick or rebase a person has under way in a worktree: aq must not touch it. */
export async function operationInProgress(path: string): Promise<string | undefined> {
  for (const [ref, what] of [
    ["MERGE_HEAD", "a merge"],
    ["CHERRY_PICK_HEAD", "a cherry-pick"],
    ["REVERT_HEAD", "a revert"],
    ["REBASE_HEAD", "a rebase"],
  ] as const) {
    if ((await gitMaybe(path, ["rev-parse", "-q", "--verify", ref])) !== undefined) return what;
  }
  const gitDir = await gitMaybe(path, ["rev-parse", "--absolute-git-dir"]);
  if (gitDir && (existsSync(join(gitDir, "rebase-merge")) || existsSync(join(gitDir, "rebase-apply"))))
    return "a rebase";
  if (await gitMaybe(path, ["ls-files", "-u"])) return "unresolved conflicts";
  return undefined;
}

/** Whether `commit` is on `branch` (the branch's tip or an ancestor of it). */
export async function contains(repo: string, branch: string, commit: string): Promise<boolean> {
  return (await gitMaybe(repo, ["merge-base", "--is-ancestor", commit, `refs/heads/${branch}`])) !== undefined;
}

export async function branchExists(repo: string, branch: string): Promise<boolean> {
  return (await gitMaybe(repo, ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`])) !== undefined;
}

/** Removes a worktree and, when asked, its branch. The caller has checked it is safe. */
export async function removeWorktree(
  repo: string,
  path: string,
  options: { deleteBranch?: string | undefined } = {},
): Promise<void> {
  await serializedInRepo(repo, async () => {
    if (existsSync(path)) await git(repo, ["worktree", "remove", "--force", path]);
    await git(repo, ["worktree", "prune"]);
    if (options.deleteBranch && (await branchExists(repo, options.deleteBranch)))
      await git(repo, ["branch", "-D", options.deleteBranch]);
  });
}

/** The worktree (if any) where `branch` is checked out. */
export async function checkedOutAt(repo: string, branch: string): Promise<string | undefined> {
  const list = await gitMaybe(repo, ["worktree", "list", "--porcelain"]);
  let current: string | undefined;
  for (const line of (list ?? "").split("\n")) {
    if (line.startsWith("worktree ")) current = line.slice("worktree ".length);
    if (line === `branch refs/heads/${branch}`) return current;
  }
  return undefined;
}

/**
 * Merges `branch` into `into`. Where `into` is checked out, a real merge runs in that worktree
 * (so its files follow); elsewhere the merge is computed without a working tree (merge-tree)
 * and the branch ref moves only if nobody moved it meanwhile.
 */
export async function mergeBranch(repo: string, branch: string, into: string, message: string): Promise<string> {
  const at = await checkedOutAt(repo, into);
  if (at) {
    const busy = await operationInProgress(at);
    if (busy)
      throw new AqError(
        "AQ_FAILED",
        `${at} (where ${into} is checked out) has ${busy} in progress; finish it, then ship again`,
      );
    try {
      await gitWithIdentity(at, ["merge", "--no-ff", "--no-edit", "-m", message, branch]);
    } catch (error) {
      const conflicts = (await gitMaybe(at, ["diff", "--name-only", "--diff-filter=U"])) ?? "";
      await gitMaybe(at, ["merge", "--abort"]);
      const files = conflicts.split("\n").filter(Boolean);
      if (files.length) {
        throw new AqError(
          "AQ_FAILED",
          `${branch} does not merge cleanly into ${into} (conflict in ${files.slice(0, 5).join(", ")}${files.length > 5 ? ", …" : ""}); nothing was changed: resolve it on ${branch} and ship again`,
        );
      }
      throw new AqError(
        "AQ_FAILED",
        `merge of ${branch} into ${into} failed (${(error as Error).message}); nothing was changed`,
      );
    }
    return (await git(at, ["rev-parse", "HEAD"])).stdout.trim();
  }
  const old = await gitMaybe(repo, ["rev-parse", "--verify", "-q", `refs/heads/${into}`]);
  if (!old)
    throw new AqError(
      "AQ_FAILED",
      `the base branch ${into} no longer exists in ${repo}; nothing to merge ${branch} into`,
    );
  let tree: string;
  try {
    tree = (await git(repo, ["merge-tree", "--write-tree", old, branch])).stdout.split("\n")[0]!.trim();
  } catch {
    throw new AqError(
      "AQ_FAILED",
      `${branch} does not merge cleanly into ${into}; resolve the conflict and ship again`,
    );
  }
  const commit = (
    await gitWithIdentity(repo, ["commit-tree", tree, "-p", old, "-p", branch, "-m", message])
  ).stdout.trim();
  await git(repo, ["update-ref", `refs/heads/${into}`, commit, old]);
  return commit;
}
