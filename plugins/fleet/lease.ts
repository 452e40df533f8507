import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { FencedError, type BuildingContext, type JobMeta, type PluginApi, type Veto } from "../../src/index.ts";
import type { Connection } from "./connection.ts";
import { fencedOf, leaseOf } from "./fleet-meta.ts";
import { PLUGIN_NAME } from "./settings.ts";
import type { Outbox } from "./outbox.ts";

const run = promisify(execFile);

/**
 * While a fleet job builds, its lease is renewed on a timer with the current epoch. A renew
 * answered 409 kills the engine at once (the job fails as fenced); a coordinator that cannot be
 * reached does not stop the job, which finishes locally.
 */
export function renewWhileBuilding(aq: PluginApi, connection: Connection, outbox: Outbox, ctx: BuildingContext): void {
  const lease = leaseOf(ctx.meta);
  if (!lease) return;
  outbox.inFlight.set(ctx.jobId, (error) => ctx.abort(error));
  // Work the agent committed meanwhile is reported as a new checkpoint: a reclaim resumes from it.
  let checkpointed = ctx.meta.wip?.commit;
  const checkpoint = async () => {
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
  const renew = async () => {
    if (connection.authProblem) return;
    const result = connection.note(await (await connection.api()).renew(lease.jobId, lease.leaseEpoch));
    if (result.ok) {
      const expires = result.data?.leaseExpiresAt;
      if (expires !== undefined)
        await aq.queue
          .updateMeta(ctx.jobId, (meta) => ({ fleet: { ...(meta.fleet as object), leaseExpiresAt: String(expires) } }))
          .catch(() => {});
      await checkpoint().catch(() => {});
      void outbox.deliver(ctx.jobId).catch(() => {});
    } else if (result.status === 409) {
      await outbox.markFenced(ctx.jobId, lease.leaseEpoch);
      ctx.abort(
        new FencedError(
          ctx.jobId,
          `lease renew of ${lease.jobId} (epoch ${lease.leaseEpoch}) answered 409: another factory holds the job now`,
        ),
      );
    } else {
      aq.logger.debug(`${ctx.jobId}: lease renew failed: ${result.problem}`);
    }
  };
  const timer = setInterval(
    () => void renew().catch((error) => aq.logger.debug(`${ctx.jobId}: renew: ${(error as Error).message}`)),
    connection.settings.renewMs,
  );
  timer.unref();
  ctx.signal.addEventListener(
    "abort",
    () => {
      clearInterval(timer);
      outbox.inFlight.delete(ctx.jobId);
    },
    { once: true },
  );
}

/**
 * Before a fleet job ships: every report delivered, the lease confirmed by the coordinator under
 * the job's epoch, and the wip branch's newest commit not older than that lease (its trailers).
 */
export async function confirmLease(
  aq: PluginApi,
  connection: Connection,
  outbox: Outbox,
  id: string,
  meta: Readonly<JobMeta>,
): Promise<Veto | undefined> {
  const lease = leaseOf(meta);
  if (!lease) return undefined;
  if (connection.authProblem)
    return {
      reason: `the coordinator refused our credentials, so the lease cannot be confirmed (${connection.authProblem})`,
    };
  const delivery = await outbox.deliver(id);
  if (delivery === "pending")
    return {
      reason:
        "the coordinator cannot be reached: reports are waiting and the lease cannot be confirmed; ship again once it answers",
    };
  if (delivery === "fenced" || delivery === "was-fenced") {
    await outbox.fenced(id, "deferred");
    return { reason: `lease epoch ${lease.leaseEpoch} is stale (409): the job was quarantined` };
  }
  const result = connection.note(await (await connection.api()).renew(lease.jobId, lease.leaseEpoch));
  if (!result.ok && result.status === 409) {
    await outbox.markFenced(id, lease.leaseEpoch);
    await outbox.fenced(id, "deferred");
    return { reason: `lease epoch ${lease.leaseEpoch} is stale (409): the job was quarantined` };
  }
  if (!result.ok) return { reason: `lease not confirmed: ${result.problem}` };
  const newest = meta.wip && meta.worktree ? await newestTrailerEpoch(meta.worktree.repo, meta.wip.branch) : undefined;
  if (newest !== undefined && newest < lease.leaseEpoch) {
    return {
      reason: `the newest commit on ${meta.wip?.branch} carries lease epoch ${newest}, older than the confirmed ${lease.leaseEpoch}`,
    };
  }
  aq.logger.debug(`${id}: lease epoch ${lease.leaseEpoch} confirmed for shipping`);
  return undefined;
}

/** The Aq-Lease-Epoch trailer of the newest commit on the branch that has one. */
export async function newestTrailerEpoch(repo: string, branch: string): Promise<number | undefined> {
  try {
    const { stdout } = await run(
      "git",
      ["log", "-n", "200", "--format=%(trailers:key=Aq-Lease-Epoch,valueonly,separator=%x2C)", branch],
      { cwd: repo },
    );
    const line = stdout.split("\n").find((value) => value.trim() !== "");
    return line === undefined ? undefined : Number(line.split(",")[0]);
  } catch {
    return undefined;
  }
}

/**
 * A live factory keeps the leases of the fleet jobs it holds outside building (claimed and not
 * started yet, or waiting on a local retry; finished but not shipped): renewed with each heartbeat, so the work waits for its
 * runner or operator instead of being redone elsewhere. A 409 means it was lost meanwhile.
 */
export async function renewHeld(aq: PluginApi, connection: Connection, outbox: Outbox): Promise<void> {
  const { jobs } = await aq.queue.list(["queued", "assigned", "review", "testing"]);
  for (const job of jobs) {
    const lease = leaseOf(job.meta);
    if (!lease || !connection.mayCall()) continue;
    if (fencedOf(job.meta)) continue;
    const result = connection.note(await (await connection.api()).renew(lease.jobId, lease.leaseEpoch));
    if (!result.ok && result.status === 409) {
      await outbox.markFenced(job.id, lease.leaseEpoch);
      await outbox.fenced(job.id, "deferred");
    }
  }
}
