import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JobMeta } from "../../src/core/meta.ts";
import type { Stage } from "../../src/core/stages.ts";
import { aq, type CliResult, startAq, writeTestConfig } from "./cli.ts";
import { git, gitRepo } from "./git.ts";
import { jobText, metaOf, stageOf } from "./jobs.ts";
import { tempDir } from "./temp.ts";

/**
 * One end-to-end git setting: a temp dir holding
 *   repo/   a real repository on main that jobs use as `cwd`
 *   home/   aq.config.json (the CLI runs here) and home/queue, the queue
 *   jobs/   the job files handed to `aq add`
 * With `queueInGit`, home/ is itself a git repository, so the queue is a git-queue.
 */
export interface GitWorld {
  readonly root: string;
  readonly repo: string;
  readonly home: string;
  readonly queue: string;
  /** Runs the compiled CLI in home/. */
  cli(args: readonly string[]): Promise<CliResult>;
  /** Like cli(), but throws (with stderr) unless it exits 0. */
  ok(args: readonly string[]): Promise<CliResult>;
  /** Starts the CLI in home/ without waiting for it. */
  start(args: readonly string[]): ReturnType<typeof startAq>;
  /** `aq add` of a job whose cwd defaults to repo/; every frontmatter string is YAML-quoted. */
  add(id: string, frontmatter: Record<string, unknown>, body: string): Promise<string>;
  /** `aq run --drain` (plus extra args); throws unless it exits 0. */
  drain(...extra: string[]): Promise<CliResult>;
  meta(id: string): JobMeta;
  stage(id: string): Stage | undefined;
}

export function gitWorld(options: { config?: Record<string, unknown>; queueInGit?: boolean } = {}): GitWorld {
  const root = tempDir("aq-git-");
  const repo = gitRepo(join(root, "repo"));
  const home = join(root, "home");
  mkdirSync(home, { recursive: true });
  if (options.queueInGit) gitRepo(home, { "README.md": "# the queue's repository\n" });
  mkdirSync(join(root, "jobs"));
  writeTestConfig(home, { queueDir: "queue", ...options.config });
  const queue = join(home, "queue");
  const cli = (args: readonly string[]) => aq(args, { cwd: home, timeoutMs: 30_000 });
  const ok = async (args: readonly string[]) => {
    const result = await cli(args);
    if (result.code !== 0) throw new Error(`aq ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
    return result;
  };
  return {
    root,
    repo,
    home,
    queue,
    cli,
    ok,
    start: (args) => startAq(args, { cwd: home, timeoutMs: 30_000 }),
    async add(id, frontmatter, body) {
      const quoted = Object.fromEntries(
        Object.entries({ cwd: repo, ...frontmatter }).map(([key, value]) => [
          key,
          typeof value === "string" ? JSON.stringify(value) : value,
        ]),
      );
      const file = join(root, "jobs", `${id}.md`);
      writeFileSync(file, jobText(quoted, body));
      const result = await ok(["add", file, "--id", id]);
      if (result.stdout.trim() !== id)
        throw new Error(`aq add printed ${JSON.stringify(result.stdout)}, not the id ${id}`);
      return id;
    },
    drain: (...extra) => ok(["run", "--drain", ...extra]),
    meta: (id) => metaOf(queue, id),
    stage: (id) => stageOf(queue, id),
  };
}

/** git that answers undefined instead of throwing (for "does this ref exist?"). */
export function gitMaybe(cwd: string, ...args: string[]): string | undefined {
  try {
    return execFileSync("git", args, {
      cwd,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0" },
    }).trim();
  } catch {
    return undefined;
  }
}

export const revParse = (repo: string, ref: string): string => git(repo, "rev-parse", "--verify", `${ref}^{commit}`);

/** The local branches of a repository, sorted. */
export const branches = (repo: string): string[] =>
  git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split("\n").filter(Boolean).sort();

/** The paths of every worktree of a repository (the main one first). */
export const worktreePaths = (repo: string): string[] =>
  git(repo, "worktree", "list", "--porcelain")
    .split("\n")
    .filter((line) => line.startsWith("worktree "))
    .map((line) => line.slice("worktree ".length));

/** Every file in a commit's tree, sorted. */
export const filesAt = (repo: string, ref: string): string[] =>
  git(repo, "ls-tree", "-r", "--name-only", ref).split("\n").filter(Boolean).sort();

/** A file's text at a commit. */
export const fileAt = (repo: string, ref: string, path: string): string => git(repo, "show", `${ref}:${path}`);

/** A commit's parents, in order. */
export const parentsOf = (repo: string, ref: string): string[] =>
  git(repo, "rev-list", "--parents", "-n", "1", ref).split(" ").slice(1);

/** Commit subjects from newest to oldest. */
export const subjects = (repo: string, ...range: string[]): string[] =>
  git(repo, "log", "--format=%s", ...range)
    .split("\n")
    .filter(Boolean);

/** `git status --porcelain` lines. */
export const statusLines = (dir: string, ...extra: string[]): string[] =>
  execFileSync("git", ["status", "--porcelain", ...extra], { cwd: dir, encoding: "utf8" })
    .split("\n")
    .filter(Boolean);

/** Commits a file on the checked-out branch of `repo` as a person would. */
export function commitFile(repo: string, path: string, text: string, message = `person: ${path}`): string {
  writeFileSync(join(repo, path), text);
  git(repo, "add", "--", path);
  git(repo, "commit", "-q", "-m", message);
  return revParse(repo, "HEAD");
}

/** stderr as lines, for the "one line reason" contract. */
export const errorLines = (result: CliResult): string[] => result.stderr.trim().split("\n").filter(Boolean);
