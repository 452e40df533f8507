import type { Aq } from "../app.ts";
import { AqError } from "../core/errors.ts";
import { ownProblem } from "./clean.ts";
import { commitAll, contains, hasUncommitted, mergeBranch, removeWorktree } from "../core/worktree.ts";

export interface ShipResult {
  readonly id: string;
  readonly merged?: { commit: string; into: string; branch: string };
}

/**
 * testing (or review with force) → shipped: plugins may refuse (beforeShip), then the wip branch
 * is merged into the base branch and the worktree, now fully merged, is removed.
 */
export async function ship(aq: Aq, id: string, options: { force?: boolean } = {}): Promise<ShipResult> {
  const job = await aq.store.get(id);
  const force = options.force === true;
  if (job.stage !== "testing" && !(force && job.stage === "review")) {
    const hint = job.stage === "review" ? " (promote it first, or ship with --force)" : "";
    throw new AqError("AQ_CONFLICT", `job ${id} is in ${job.stage}/; only a job in testing/ can be shipped${hint}`);
  }
  const veto = await aq.hooks.beforeShip.promise({ jobId: id, meta: job.meta, force });
  if (veto) {
    // A gate may also have found that the job must rest elsewhere (a stale lease: quarantine).
    await aq.lifecycle.applyParks(aq.by);
    throw new AqError("AQ_FAILED", `ship of ${id} refused: ${veto.reason}`);
  }
  const { worktree, wip } = job.meta;
  if (!worktree || !wip) {
    await aq.lifecycle.move(id, job.stage, "shipped", { by: aq.by, reason: "no repository: nothing to merge" });
    return { id };
  }
  const foreign = ownProblem(aq, id, worktree.path, wip.branch);
  if (foreign) throw new AqError("AQ_FAILED", `ship of ${id} refused: ${foreign}; nothing was merged`);
  if (!worktree.baseBranch)
    throw new AqError(
      "AQ_FAILED",
      `job ${id} started on a detached HEAD in ${worktree.repo}; there is no branch to merge ${wip.branch} into`,
    );
  // Anything a person changed in the worktree during review ships too, never silently dropped.
  if (await hasUncommitted(worktree.path))
    await commitAll(worktree.path, `aq: ${id}: changes made during review`, aq.hooks.commitTrailers.call({}, job.meta));
  if (!(await contains(worktree.repo, wip.branch, wip.commit))) {
    throw new AqError(
      "AQ_FAILED",
      `${wip.branch} does not contain the job's recorded work (${wip.commit.slice(0, 12)}); nothing was merged`,
    );
  }
  const commit = await mergeBranch(worktree.repo, wip.branch, worktree.baseBranch, `aq: ship ${id}`);
  // A fence met on the way (the shipped report answered 409) fails the job as fenced, and says so.
  await aq.lifecycle.move(id, job.stage, "shipped", {
    by: aq.by,
    patch: (meta) => ({ ...meta, shipped: { commit, into: worktree.baseBranch } }),
  });
  await removeWorktree(worktree.repo, worktree.path, { deleteBranch: wip.branch }).catch((error) =>
    aq.logger.warn(`${id}: shipped, but its worktree could not be removed: ${(error as Error).message}`),
  );
  return { id, merged: { commit, into: worktree.baseBranch, branch: wip.branch } };
}
