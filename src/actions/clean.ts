import type { Aq } from "../app.ts";
import { oneLine } from "../core/errors.ts";
import type { Stage } from "../core/stages.ts";
import { branchExists, branchOf, hasUncommitted, isInside, removeWorktree, unmergedCount } from "../core/worktree.ts";
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
    // meta.json is only a claim: aq touches its own worktrees (under its directory) and aq/<id> branches, nothing else.
    const foreign = ownProblem(aq, job.id, worktree.path, wip.branch);
    if (foreign) {
      result.kept.push({ id: job.id, path: worktree.path, branch: wip.branch, why: foreign });
      continue;
    }
    const present = existsSync(worktree.path);
    const hasBranch = await branchExists(worktree.repo, wip.branch);
    if (!present && !hasBranch) continue;
    const dirty = present && (await hasUncommitted(worktree.path));
    const unmerged = hasBranch
      ? worktree.baseBranch
        ? await unmergedCount(worktree.repo, wip.branch, worktree.baseBranch)
        : undefined
      : 0;
    const why = [
      dirty ? "uncommitted changes" : "",
      unmerged !== undefined && unmerged > 0 ? `${unmerged} commit(s) not merged into ${worktree.baseBranch}` : "",
      unmerged === undefined
        ? `cannot tell what is merged (base branch ${worktree.baseBranch || "unknown"} is gone)`
        : "",
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

/** Why a job's recorded worktree or branch is not aq's own to remove or merge (undefined: it is). */
export function ownProblem(aq: Aq, id: string, path: string, branch: string): string | undefined {
  if (branch !== branchOf(id)) return `its branch ${JSON.stringify(branch)} is not ${branchOf(id)}: not aq's own`;
  if (!isInside(aq.config.worktrees.dir, path))
    return `its worktree is not under ${aq.config.worktrees.dir}: not aq's own`;
  return undefined;
}
