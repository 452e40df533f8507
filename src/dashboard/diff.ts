import { existsSync } from "node:fs";
import { git } from "../core/git.ts";
import type { JobMeta } from "../core/meta.ts";
import type { Stage } from "../core/stages.ts";

/** A patch bigger than this is cut (the files list stays whole): a page must stay quick. */
const PATCH_MAX = 512 * 1024;

export interface JobDiff {
  readonly branch: string;
  /** The commit diffed (the wip commit), or "working tree" for a job still building. */
  readonly commit: string;
  readonly base: { readonly branch: string; readonly commit: string };
  readonly files: ReadonlyArray<{ path: string; added: number | null; removed: number | null }>;
  readonly patch: string;
  readonly truncated: boolean;
}

/**
 * What the job changed against the commit its branch started from: the files with lines added
 * and removed (null for a binary file) and the patch. A building job shows its worktree as it is
 * now, uncommitted changes included; any other job its wip commit.
 */
export async function jobDiff(meta: JobMeta, stage: Stage): Promise<JobDiff | undefined> {
  const worktree = meta.worktree;
  if (!worktree || !meta.wip) return undefined;
  const live = stage === "building" && existsSync(worktree.path);
  const cwd = live ? worktree.path : worktree.repo;
  if (!existsSync(cwd)) return undefined;
  const range = live ? [worktree.baseCommit] : [worktree.baseCommit, meta.wip.commit];
  const common = ["-c", "core.quotePath=false", "diff", "--no-color", "--no-ext-diff", "--no-renames"];
  const [numstat, patch] = await Promise.all([
    git(cwd, [...common, "--numstat", "-z", ...range, "--"]),
    git(cwd, [...common, "--patch", ...range, "--"]),
  ]);
  const truncated = patch.stdout.length > PATCH_MAX;
  return {
    branch: meta.wip.branch,
    commit: live ? "working tree" : meta.wip.commit,
    base: { branch: worktree.baseBranch, commit: worktree.baseCommit },
    files: parseNumstat(numstat.stdout),
    patch: truncated ? patch.stdout.slice(0, PATCH_MAX) : patch.stdout,
    truncated,
  };
}

/** `git diff --numstat -z`: "added\tremoved\tpath\0" per file ("-\t-" for a binary one). */
function parseNumstat(text: string): Array<{ path: string; added: number | null; removed: number | null }> {
  const files: Array<{ path: string; added: number | null; removed: number | null }> = [];
  for (const entry of text.split("\0")) {
    const match = /^(\d+|-)\t(\d+|-)\t([\s\S]+)$/.exec(entry.replace(/^\n/, ""));
    if (!match) continue;
    files.push({
      path: match[3]!,
      added: match[1] === "-" ? null : Number(match[1]),
      removed: match[2] === "-" ? null : Number(match[2]),
    });
  }
  return files;
}
