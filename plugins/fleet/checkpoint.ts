import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { BuildingContext, PluginApi } from "../../src/index.ts";
import { PLUGIN_NAME } from "./settings.ts";
import type { Outbox } from "./report.ts";

const run = promisify(execFile);

/**
 * Work the agent committed while it builds is reported as a new checkpoint ({wipBranch,
 * wipCommit} with a `building` report), so a reclaim elsewhere resumes from it. Returns the
 * step the renew timer takes after each renew that got through.
 */
export function reportCheckpoints(aq: PluginApi, outbox: Outbox, ctx: BuildingContext): () => Promise<void> {
  let checkpointed = ctx.meta.wip?.commit;
  return async () => {
    const { worktree, wip } = ctx.meta;
    if (!worktree || !wip) return;
    const head = (await run("git", ["rev-parse", "HEAD"], { cwd: worktree.path })).stdout.trim();
    if (!head || head === checkpointed) return;
    checkpointed = head;
    const job = await aq.queue.get(ctx.jobId);
    // The build may have ended meanwhile: a late "building" must never follow its "review".
    if (ctx.signal.aborted) return;
    await outbox.report(
      {
        jobId: ctx.jobId,
        from: "building",
        to: "building",
        by: PLUGIN_NAME,
        meta: { ...job.meta, wip: { branch: wip.branch, commit: head } },
      },
      "building",
    );
  };
}
