import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { StatusJob, StatusReport } from "./contributions.ts";
import type { RunnerHooks } from "./hooks.ts";
import type { JobMeta } from "./meta.ts";
import type { QueueStore } from "./queue-store.ts";
import { STAGE_NAMES, type Stage } from "./stages.ts";
import { isAlive } from "./process-ref.ts";
import { localeOrder } from "./locale-order.ts";

export interface RunnerInfo {
  readonly pid: number;
  readonly startTime?: string | undefined;
  readonly host?: string | undefined;
  readonly id: string;
  readonly startedAt: string;
  readonly mode: string;
  readonly concurrency: number;
}

/** The status object of `aq status --json` (docs/design.md, "Command line"), before and after plugins extend it. */
export async function collectStatus(store: QueueStore, hooks: RunnerHooks): Promise<StatusReport> {
  const counts = Object.fromEntries(STAGE_NAMES.map((stage) => [stage, 0])) as Record<Stage, number>;
  const rows: StatusJob[] = [];
  const broken: StatusReport["broken"] = [];
  // Each job's row is made as it is read: no meta outlives its row (over 10,000 jobs, less to collect).
  await store.each(STAGE_NAMES, (job) => {
    counts[job.stage]++;
    if ("meta" in job) rows.push(statusJobOf(hooks, job.meta, job.stage));
    else broken.push({ id: job.id, stage: job.stage, problem: job.problem });
  });
  rows.sort(byAttention());
  const report: StatusReport = {
    counts,
    jobs: rows,
    broken,
    notes: [],
    runners: await liveRunners(store),
  };
  return hooks.status.promise(report);
}

/**
 * The order a person wants to read the jobs in: those that need a person first (quarantined,
 * blocked, failed, dead-letter), then what runs, what waits for review or tests, the queue in the
 * order it will be claimed (priority, then oldest; a retry waiting on its backoff after the
 * claimable ones), and what shipped last, newest first.
 */
export const ATTENTION_ORDER: readonly Stage[] = [
  "quarantine",
  "blocked",
  "failed",
  "dead_letter",
  "building",
  "assigned",
  "review",
  "testing",
  "queued",
  "shipped",
];

export function byAttention(now = new Date().toISOString()): (a: StatusJob, b: StatusJob) => number {
  return (a, b) => {
    const stage = ATTENTION_ORDER.indexOf(a.stage) - ATTENTION_ORDER.indexOf(b.stage);
    if (stage) return stage;
    if (a.stage === "queued") return claimOrder(a, b, now);
    if (a.stage === "shipped") return compare(b.updatedAt, a.updatedAt) || compare(a.id, b.id);
    return compare(a.updatedAt, b.updatedAt) || compare(a.id, b.id);
  };
}

/** ISO times and ids compare as plain strings (a locale-aware compare costs more over 10,000 jobs). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The order claimNext takes queued jobs in: priority, then the oldest, then the id. */
function claimOrder(a: StatusJob, b: StatusJob, now: string): number {
  const waits = (job: StatusJob) => (job.notBefore && job.notBefore > now ? 1 : 0);
  return waits(a) - waits(b) || b.priority - a.priority || compare(a.createdAt, b.createdAt) || localeOrder(a.id, b.id);
}

/** A job's row of `aq status`: what the core knows of it, then what plugins add from its meta. */
export function statusJobOf(hooks: RunnerHooks, meta: JobMeta, stage: Stage): StatusJob {
  // Built key by key, in the order `aq status --json` prints them (no object spread per job over 10,000 jobs).
  const row: Record<string, unknown> = { id: meta.id, stage, origin: meta.origin };
  if (meta.reason) row.reason = meta.reason;
  row.attempts = meta.attempts;
  row.priority = meta.priority;
  if (meta.lock) row.lock = meta.lock;
  if (meta.notBefore && stage === "queued") row.notBefore = meta.notBefore;
  row.createdAt = meta.createdAt;
  row.updatedAt = meta.history.at(-1)?.at ?? meta.createdAt;
  if (meta.agent) row.agent = meta.agent;
  const job = row as StatusJob;
  return hooks.statusJob.isUsed() ? hooks.statusJob.call(job, meta) : job;
}

/** Runners that announced themselves in .aq/runners/ and still run. */
export async function liveRunners(store: QueueStore): Promise<RunnerInfo[]> {
  const dir = store.stateDir("runners");
  const names = await readdir(dir).catch(() => [] as string[]);
  const runners: RunnerInfo[] = [];
  for (const name of names.filter((n) => n.endsWith(".json"))) {
    try {
      const record = JSON.parse(await readFile(join(dir, name), "utf8")) as RunnerInfo & {
        startTime?: string;
        host?: string;
      };
      if (isAlive(record))
        runners.push({
          pid: record.pid,
          startTime: record.startTime,
          host: record.host,
          id: record.id,
          startedAt: record.startedAt,
          mode: record.mode,
          concurrency: record.concurrency,
        });
    } catch {
      // a runner writing its record right now, or a stale one: neither is listed
    }
  }
  return runners;
}
