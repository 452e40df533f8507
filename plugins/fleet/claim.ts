import {
  checkJobInput,
  type ClaimedJob,
  type IdleContext,
  type MaterializeInput,
  type PluginApi,
} from "../../src/index.ts";
import type { Connection } from "./connection.ts";

/**
 * How long an idle factory waits before asking the coordinator again after "nothing to do": 5 s
 * after the first such answer, longer while they keep coming, up to 15 s. Each claim costs an
 * idle factory a few milliseconds of CPU (ky over a cold fetch), so a factory idle for a long
 * time asks four times a minute rather than twelve; a job it gets, or a heartbeat saying there
 * is work, starts the pauses over. Never longer than the lease renewal interval.
 */
export const IDLE_CLAIM_PAUSES_MS: readonly number[] = [5_000, 10_000, 15_000];
/** The first pause: what a factory that just found nothing waits. */
export const IDLE_CLAIM_PAUSE_MS = IDLE_CLAIM_PAUSES_MS[0]!;

/** The pause after the `emptyAnswers`-th "nothing to do" in a row (the first is 1). */
export function idleClaimPauseMs(emptyAnswers: number, renewMs: number): number {
  const step = Math.min(Math.max(0, emptyAnswers - 1), IDLE_CLAIM_PAUSES_MS.length - 1);
  return Math.min(IDLE_CLAIM_PAUSES_MS[step]!, renewMs);
}

/** Claimed jobs become local jobs named after the fleet job and the epoch they run under. */
export function localIdOf(fleetJobId: string, leaseEpoch: number): string {
  const safe =
    fleetJobId
      .replace(/[^A-Za-z0-9_-]+/g, "-")
      .replace(/^[-_]+/, "")
      .slice(0, 80) || "job";
  return `fleet-${safe}-e${leaseEpoch}`;
}

/**
 * The local queue is empty: claim one job from the coordinator and materialize it, owned by
 * this runner, with its lease in meta; the unchanged core runs it. A job that cannot run here
 * (its body does not parse) is reported failed and released at once.
 */
export async function claimFromFleet(
  aq: PluginApi,
  connection: Connection,
  capabilities: readonly string[],
  ctx: IdleContext,
): Promise<ClaimedJob | undefined> {
  // A claimed job that cannot run here is handed back at once; the next one may well run.
  for (let tries = 0; tries < 5; tries++) {
    const outcome = await claimOnce(aq, connection, capabilities, ctx);
    if (outcome === undefined) {
      const at = nextClaimAt(connection);
      if (at !== undefined) ctx.askAgainAt(at);
    }
    if (outcome !== "unrunnable") return outcome;
  }
  return undefined;
}

/** When a claim is next worth making, if the coordinator said (nothing to do, a backoff) or refused us; else at the runner's poll. */
function nextClaimAt(connection: Connection, now = Date.now()): number | undefined {
  if (connection.authProblem !== undefined) return Number.POSITIVE_INFINITY;
  if (!connection.mayCall(now)) return now + connection.delayMs(now);
  return connection.quietUntil > now ? connection.quietUntil : undefined;
}

async function claimOnce(
  aq: PluginApi,
  connection: Connection,
  capabilities: readonly string[],
  ctx: IdleContext,
): Promise<ClaimedJob | undefined | "unrunnable"> {
  if (ctx.draining || !connection.mayCall()) return undefined;
  // After "nothing to do", ask again only after a pause (sooner, when a heartbeat's answer says
  // there is work and the runner takes a turn meanwhile).
  if (Date.now() < connection.quietUntil) return undefined;
  const api = await connection.api();
  const result = connection.note(await api.claim(capabilities));
  if (!result.ok) return undefined; // the connection logged it (once per kind of problem)
  const answer = result.data;
  if (!answer || !("leaseEpoch" in answer)) {
    connection.emptyAnswers++;
    connection.quietUntil = Date.now() + idleClaimPauseMs(connection.emptyAnswers, connection.settings.renewMs);
    return undefined;
  }
  connection.workAhead();
  const { job, leaseEpoch } = answer;
  const leaseExpiresAt =
    typeof answer.leaseExpiresAt === "number" ? new Date(answer.leaseExpiresAt).toISOString() : answer.leaseExpiresAt;
  const id = localIdOf(job.id, leaseEpoch);
  const input: MaterializeInput = {
    id,
    ...(job.title ? { title: job.title } : {}),
    body: job.bodyMd,
    options: job.options ?? {},
    origin: { kind: "fleet", jobId: job.id },
    extra: {
      fleet: { jobId: job.id, leaseEpoch, leaseExpiresAt, factoryId: connection.settings.factoryId },
      fleetState: { outbox: [] },
      // Where an earlier holder got to: the core starts the new branch there when the commit is in reach.
      ...(job.checkpoint?.wipCommit
        ? { resumeFrom: { branch: job.checkpoint.wipBranch, commit: job.checkpoint.wipCommit } }
        : {}),
    },
  };
  // Checked before answering, so a job that cannot run here goes back to the fleet at once.
  const problem = checkJobInput(input);
  if (problem !== undefined) {
    aq.logger.error(`fleet job ${job.id} cannot run here: ${problem}; reporting it failed`);
    connection.note(await api.report(job.id, { stage: "failed", leaseEpoch }));
    connection.note(await api.release(job.id, leaseEpoch));
    return "unrunnable";
  }
  aq.logger.info(`${id}: claimed fleet job ${job.id} under lease epoch ${leaseEpoch}`);
  return { input };
}
