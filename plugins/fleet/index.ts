import { definePlugin, type StageEvent } from "../../src/index.ts";
import { detectCapabilities } from "./caps.ts";
import { claimFromFleet } from "./claim.ts";
import { fleetCommand } from "./admin-commands.ts";
import { fleetStatusCommand } from "./commands.ts";
import { applyFleetViews } from "./views.ts";
import { Connection } from "./connection.ts";
import { fencedOf, leaseOf, outboxOf, REPORTED_ON_STAGE } from "./fleet-meta.ts";
import { Heartbeat } from "./heartbeat.ts";
import { Fence } from "./fence.ts";
import { confirmLease } from "./lease.ts";
import { Quarantine } from "./quarantine.ts";
import { handBack, release } from "./release.ts";
import { renewWhileBuilding } from "./renew.ts";
import { flushAll, Outbox } from "./report.ts";
import { fleetSettings, OptionsSchema, PLUGIN_NAME } from "./settings.ts";
import { applyShadow } from "./shadow.ts";

/**
 * Fleet mode (docs/design.md, "The fleet plugin"): this factory heartbeats to the coordinator, claims jobs when the local
 * queue is empty, reports every stage with its lease epoch, renews its lease while building,
 * releases it when the job comes to rest, and is fenced by a 409. Loaded only when the fleet
 * switch is on (AQ_FLEET=1, or shadow: see shadow.ts); it reaches the runner through hooks alone.
 * In every mode it adds `aq fleet ...`, the operator's commands.
 */
export default definePlugin({
  name: PLUGIN_NAME,
  secretEnv: ["AQ_FLEET_TOKEN"],
  // Fleet jobs' stage echo goes through the coordinator, which records it as fleet_events.
  origins: ["fleet"],
  options: OptionsSchema,
  apply(aq, options) {
    const settings = fleetSettings(aq.env, options, aq.queue.root);
    aq.registerCommand("fleet", fleetCommand(settings, aq.env));
    const capabilities = settings.caps ?? detectCapabilities(aq.engines, aq.env as NodeJS.ProcessEnv);
    if (settings.mode === "shadow") {
      applyShadow(aq, settings, capabilities);
      aq.extendStatus((status) => ({
        ...status,
        factoryId: settings.factoryId,
        notes: [...status.notes, `fleet: shadow mode: local queue only, stages mirrored to ${settings.api}`],
      }));
      return;
    }
    const connection = new Connection(settings, aq.logger);
    const quarantine = new Quarantine();
    const outbox = new Outbox(aq, connection);
    const fence = new Fence(aq, outbox, quarantine);
    const heartbeat = new Heartbeat(aq, connection, outbox, fence, capabilities);

    aq.hooks.runnerStart.tapPromise(PLUGIN_NAME, async (runner) => {
      aq.logger.info(`factory ${settings.factoryId} joining the fleet at ${settings.api}`);
      await heartbeat.beat(runner);
      heartbeat.start(runner);
      await fence.sweep();
      await flushAll(outbox, fence, connection);
    });
    aq.hooks.onIdle.tapPromise(PLUGIN_NAME, (ctx) => claimFromFleet(aq, connection, capabilities, ctx));

    aq.hooks.onStage.tapPromise(PLUGIN_NAME, async (event: StageEvent) => {
      const stage = REPORTED_ON_STAGE[event.to];
      if (!stage || !leaseOf(event.meta) || event.reason === "fenced" || fencedOf(event.meta)) return;
      if ((await outbox.report(event, stage)) === "fenced") await fence.decide(event.jobId, "live");
    });
    aq.hooks.onTerminal.tapPromise(PLUGIN_NAME, async (event) => {
      if (!leaseOf(event.meta) || event.reason === "fenced" || fencedOf(event.meta)) return;
      if (event.to === "failed" || event.to === "dead_letter") await outbox.report(event, "failed");
      await release(aq, outbox, fence, event.jobId);
    });
    /**
     * A job cancelled while building (a second signal, a drain past its timeout): its work so far
     * is reported as a checkpoint, the lease goes back so another factory resumes it, and the answer
     * parks the local copy in blocked, since running it here again would only be fenced.
     */
    aq.hooks.onCancel.tapPromise(PLUGIN_NAME, async (event) => {
      const lease = leaseOf(event.meta);
      if (!lease) return undefined;
      await handBack(aq, connection, outbox, {
        jobId: event.jobId,
        from: "building",
        to: "building",
        by: PLUGIN_NAME,
        meta: event.meta,
      });
      return {
        to: "blocked",
        reason: `handed back to the fleet: lease ${lease.leaseEpoch} of ${lease.jobId} released with its checkpoint`,
      };
    });
    aq.hooks.parkJobs.tapPromise(PLUGIN_NAME, (requests) => quarantine.requests(aq, requests));
    aq.hooks.building.tap(PLUGIN_NAME, (ctx) => renewWhileBuilding(aq, connection, outbox, fence, ctx));
    aq.hooks.beforeShip.tapPromise(PLUGIN_NAME, (ctx) =>
      confirmLease(aq, connection, outbox, fence, ctx.jobId, ctx.meta),
    );
    aq.hooks.commitTrailers.tap(PLUGIN_NAME, (trailers, meta) => {
      const lease = leaseOf(meta);
      return lease
        ? {
            ...trailers,
            "Aq-Job": lease.jobId,
            "Aq-Factory": settings.factoryId,
            "Aq-Lease-Epoch": String(lease.leaseEpoch),
          }
        : trailers;
    });
    aq.hooks.runnerStop.tapPromise(PLUGIN_NAME, async (runner) => {
      heartbeat.stop();
      await heartbeat.beat({ ...runner, draining: true }).catch(() => false);
    });

    aq.extendStatus(async (status) => {
      const { jobs } = await aq.queue.list();
      const waiting = jobs.filter((job) => leaseOf(job.meta) && !fencedOf(job.meta) && outboxOf(job.meta).length > 0);
      return {
        ...status,
        factoryId: settings.factoryId,
        notes: [
          ...status.notes,
          ...(waiting.length
            ? [`fleet: ${waiting.length} job(s) have reports waiting for the coordinator (degraded)`]
            : []),
        ],
      };
    });
    applyFleetViews(aq, connection);
    aq.registerCommand("fleet-status", fleetStatusCommand(aq, connection, heartbeat, capabilities));
  },
});
