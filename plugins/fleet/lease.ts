import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { JobMeta, PluginApi, Veto } from "../../src/index.ts";
import type { Connection } from "./connection.ts";
import type { Fence } from "./fence.ts";
import { fleetJobOf } from "./fleet-meta.ts";
import type { Outbox } from "./report.ts";
import { renewLease } from "./renew.ts";

const run = promisify(execFile);

/**
 * The beforeShip gate of a fleet job: every report delivered, the lease confirmed by the
 * coordinator under the job's epoch (a renew), and the wip branch's newest commit not older than
 * that lease (its trailers). A stale lease is a veto, and the fence has the job quarantined.
 */
export async function confirmLease(
  aq: PluginApi,
  connection: Connection,
  outbox: Outbox,
  fence: Fence,
  id: string,
  meta: Readonly<JobMeta>,
): Promise<Veto | undefined> {
  const lease = fleetJobOf(meta)?.lease;
  if (!lease) return undefined;
  if (connection.authProblem)
    return {
      reason: `the coordinator refused our credentials, so the lease cannot be confirmed (${connection.authProblem})`,
    };
  const stale = { reason: `lease epoch ${lease.leaseEpoch} is stale (409): the job was quarantined` };
  const delivery = await outbox.deliver(id);
  if (delivery === "pending")
    return {
      reason:
        "the coordinator cannot be reached: reports are waiting and the lease cannot be confirmed; ship again once it answers",
    };
  if (delivery === "fenced" || delivery === "was-fenced") {
    await fence.decide(id, "deferred");
    return stale;
  }
  const { renewal, problem } = await renewLease(connection, fence, id, lease);
  if (renewal === "fenced") return stale;
  if (renewal === "failed") return { reason: `lease not confirmed: ${problem}` };
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
