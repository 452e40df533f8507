import type { Aq } from "../app.ts";
import { oneLine } from "../core/errors.ts";
import type { Stage } from "../core/stages.ts";
import { branchExists, hasUncommitted, removeWorktree, unmergedCount } from "../core/worktree.ts";
import { existsSync } from "node:fs";

/** Stages whose jobs no longer need their worktree (a retry recreates it from the branch). */
const FINISHED: readonly Stage[] = ["shipped", "dead_letter", "failed"];

export interface CleanResult {
  readonly removed: Array<{ id: string; path: string; branch: string }>;
  readonly kept: Array<{ id: string; path: string; branch: string; why: string }>;
}

/**
 * Removes the worktrees (and fully merged branches) of finished jobs. A worktree with uncommitted
 * changes or a branch with commits not in the base branch is kept and listed, unless forced.
 */
export async function clean(aq: Aq, options: { force?: boolean } = {}): Promise<CleanResult> {
  const result: CleanResult = { removed: [], kept: [] };
  const { jobs } = await aq.store.list(FINISHED);
  for (const job of jobs) {
    const { worktree, wip } = job.meta;
    if (!worktree || !wip) continue;
    const present = existsSync(worktree.path);
    const hasBranch = await branchExists(worktree.repo, wip.branch);
    if (!present && !hasBranch) continue;
    const dirty = present && (await hasUncommitted(worktree.path));
    const unmerged = hasBranch ? (worktree.baseBranch ? await unmergedCount(worktree.repo, wip.branch, worktree.baseBranch) : undefined) : 0;
    const why = [
      dirty ? "uncommitted changes" : "",
      unmerged !== undefined && unmerged > 0 ? `${unmerged} commit(s) not merged into ${worktree.baseBranch}` : "",
      unmerged === undefined ? `cannot tell what is merged (base branch ${worktree.baseBranch || "unknown"} is gone)` : "",
    ]
      .filter(Boolean)
      .join(", ");
    const entry = { id: job.id, path: worktree.path, branch: wip.branch };
    if (why && !options.force) {
      result.kept.push({ ...entry, why });
      continue;
    }
    try {
      await removeWorktree(worktree.repo, worktree.path, { deleteBranch: wip.branch });
      result.removed.push(entry);
    } catch (error) {
      result.kept.push({ ...entry, why: `could not remove: ${oneLine(error)}` });
    }
  }
  return result;
}
