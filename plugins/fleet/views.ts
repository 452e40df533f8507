import { setTimeout as sleep } from "node:timers/promises";
import type { JobMeta, Panel, PanelFact, PluginApi, StatusJob } from "../../src/index.ts";
import type { Connection } from "./connection.ts";
import { fencedOf, IN_FLIGHT, leaseOf, outboxOf } from "./fleet-meta.ts";
import { PLUGIN_NAME } from "./settings.ts";

/** A probe answer is kept this long; the page asks for panels every few seconds at most. */
const PROBE_MS = 10_000;
/** A panel waits this long for a probe under way, then shows what it knew before. */
const PROBE_WAIT_MS = 1_500;

interface Probe {
  readonly at: number;
  readonly reachable: boolean;
  readonly problem?: string | undefined;
}

/**
 * What the fleet shows in `aq status` and `aq dashboard`, as generic contributions: each fleet
 * job's `fleet: {jobId, leaseEpoch}` field (for `--json`), an epoch column and its fleet job id as
 * a badge; and the dashboard's fleet panel.
 */
export function applyFleetViews(aq: PluginApi, connection: Connection): void {
  aq.hooks.statusJob.tap(PLUGIN_NAME, fleetJobView);
  aq.hooks.dashboard.tapPromise(PLUGIN_NAME, fleetPanel(aq, connection));
}

export function fleetJobView(job: StatusJob, meta: Readonly<JobMeta>): StatusJob {
  const lease = leaseOf(meta);
  if (!lease) return job;
  return {
    ...job,
    fleet: { jobId: lease.jobId, leaseEpoch: lease.leaseEpoch },
    columns: { ...job.columns, epoch: String(lease.leaseEpoch) },
    badges: [...(job.badges ?? []), `fleet ${lease.jobId}`],
  };
}

/**
 * The fleet panel of `aq dashboard`: which factory this queue is, whether the coordinator answers
 * (a cached GET that changes nothing; any answer below 500 counts as reachable), the health its
 * heartbeat would report, and the leases its jobs hold with their epochs. Only a dashboard asks
 * for it: `aq status` never makes a network call.
 */
export function fleetPanel(
  aq: PluginApi,
  connection: Connection,
): (panels: Record<string, Panel>) => Promise<Record<string, Panel>> {
  let last: Probe | undefined;
  let probing: Promise<void> | undefined;
  const probe = async () => {
    const outcome = await (await connection.api()).probe();
    const reachable = outcome.ok || (outcome.status !== undefined && outcome.status < 500);
    const refused = !outcome.ok && (outcome.status === 401 || outcome.status === 403);
    last = {
      at: Date.now(),
      reachable,
      problem: outcome.ok ? undefined : reachable && !refused ? undefined : outcome.problem,
    };
  };
  return async (panels) => {
    if (!probing && (!last || Date.now() - last.at > PROBE_MS)) probing = probe().finally(() => (probing = undefined));
    if (probing) await Promise.race([probing.catch(() => {}), sleep(PROBE_WAIT_MS)]);
    const { jobs } = await aq.queue.list([...IN_FLIGHT, "review", "testing"]);
    const leases = jobs.flatMap((job) => {
      const lease = leaseOf(job.meta);
      if (!lease || fencedOf(job.meta)) return [];
      return [{ job, lease, waiting: outboxOf(job.meta).length }];
    });
    const degraded = leases.some((lease) => lease.waiting > 0);
    const facts: PanelFact[] = [
      { label: "factory", value: connection.settings.factoryId },
      { label: "coordinator", value: connection.settings.api },
      reachability(last),
      { label: "health", value: degraded ? "degraded" : "ok", tone: degraded ? "warn" : "ok" },
      { label: "leases held", value: String(leases.length) },
    ];
    const panel: Panel = {
      title: "Fleet",
      facts,
      tables: leases.length
        ? [
            {
              columns: [
                { label: "job", kind: "job" },
                { label: "fleet job" },
                { label: "stage", kind: "stage" },
                { label: "epoch" },
                { label: "lease expires", kind: "time" },
                { label: "reports waiting" },
              ],
              rows: leases.map(({ job, lease, waiting }) => [
                job.id,
                lease.jobId,
                job.stage,
                lease.leaseEpoch,
                lease.leaseExpiresAt ?? null,
                waiting,
              ]),
            },
          ]
        : [],
    };
    return { ...panels, [PLUGIN_NAME]: panel };
  };
}

function reachability(probe: Probe | undefined): PanelFact {
  if (!probe) return { label: "reachable", value: "checking…", tone: "warn" };
  if (probe.reachable) return { label: "reachable", value: "yes", tone: "ok" };
  return { label: "reachable", value: `no${probe.problem ? ` (${probe.problem})` : ""}`, tone: "bad" };
}
