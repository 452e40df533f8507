import { setTimeout as sleep } from "node:timers/promises";
import type { DashboardPanels, FleetPanel, PluginApi } from "../../src/index.ts";
import type { Connection } from "./connection.ts";
import { fencedOf, IN_FLIGHT, leaseOf, outboxOf } from "./fleet-meta.ts";

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
 * The fleet panel of `aq dashboard`: which factory this queue is, whether the coordinator answers
 * (a cached GET that changes nothing; any answer below 500 counts as reachable), the health its
 * heartbeat would report, and the leases its jobs hold with their epochs. Only a dashboard asks
 * for it: `aq status` never makes a network call.
 */
export function fleetPanel(
  aq: PluginApi,
  connection: Connection,
  configuredFactoryId: boolean,
): (panels: DashboardPanels) => Promise<DashboardPanels> {
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
      return [
        {
          id: job.id,
          stage: job.stage,
          fleetJobId: lease.jobId,
          leaseEpoch: lease.leaseEpoch,
          leaseExpiresAt: lease.leaseExpiresAt,
          waitingReports: outboxOf(job.meta).length,
          factoryId: lease.factoryId,
        },
      ];
    });
    const fleet: FleetPanel = {
      // Each runner names itself unless AQ_FACTORY_ID is set: then the leases tell which factory this is.
      factoryId: configuredFactoryId
        ? connection.settings.factoryId
        : (leases[0]?.factoryId ?? "(each runner picks its own; set AQ_FACTORY_ID)"),
      api: connection.settings.api,
      reachable: last?.reachable,
      problem: last?.problem,
      checkedAt: last ? new Date(last.at).toISOString() : undefined,
      health: leases.some((lease) => lease.waitingReports > 0) ? "degraded" : "ok",
      leases: leases.map(({ factoryId: _, ...lease }) => lease),
    };
    return { ...panels, fleet };
  };
}
