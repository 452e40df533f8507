import type { PluginApi, PluginCommand } from "../../src/index.ts";
import type { Connection } from "./connection.ts";
import { leaseOf, outboxOf } from "./fleet-meta.ts";
import type { Heartbeat } from "./heartbeat.ts";

/** `aq fleet-status`: one heartbeat, then what this factory is and holds. */
export function fleetStatusCommand(
  aq: PluginApi,
  connection: Connection,
  heartbeat: Heartbeat,
  capabilities: readonly string[],
): PluginCommand {
  return {
    description:
      "One heartbeat, then factoryId, capabilities, coordinator reachability, claimable jobs and the fleet jobs held here",
    args: { json: { type: "boolean", description: "Print machine-readable JSON on stdout" } },
    readOnly: true,
    async run(args) {
      const reachable = await heartbeat.beat();
      const { jobs } = await aq.queue.list();
      const held = jobs
        .filter((job) => leaseOf(job.meta))
        .map((job) => ({
          id: job.id,
          stage: job.stage,
          fleetJobId: leaseOf(job.meta)!.jobId,
          leaseEpoch: leaseOf(job.meta)!.leaseEpoch,
          waitingReports: outboxOf(job.meta).length,
        }));
      const report = {
        factoryId: connection.settings.factoryId,
        api: connection.settings.api,
        capabilities,
        reachable,
        ...(reachable ? {} : { problem: connection.authProblem ?? connection.lastProblem }),
        ...(heartbeat.claimable === undefined ? {} : { claimable: heartbeat.claimable }),
        jobs: held,
      };
      if (args.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        const lines = [
          `factory      ${report.factoryId}`,
          `coordinator  ${report.api}: ${reachable ? "reachable" : `NOT reachable (${report.problem})`}`,
          `capabilities ${capabilities.join(", ")}`,
          ...(report.claimable === undefined ? [] : [`claimable    ${report.claimable}`]),
          `fleet jobs   ${held.length ? "" : "none"}`,
          ...held.map(
            (job) =>
              `  ${job.id}  ${job.stage}  fleet ${job.fleetJobId}  epoch ${job.leaseEpoch}${job.waitingReports ? `  ${job.waitingReports} report(s) waiting` : ""}`,
          ),
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      }
      return reachable ? 0 : 1;
    },
  };
}
