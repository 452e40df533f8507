import type { Logger, PluginApi, RunnerContext, StageEvent } from "../../src/index.ts";
import type { FleetSettings } from "./settings.ts";

/** A shadow call never waits longer than this, whatever the configured timeout. */
export const SHADOW_TIMEOUT_MS = 2_000;

/**
 * Shadow mode (AQ_FLEET=shadow): the factory runs its own queue exactly as with the fleet off —
 * it claims nothing, and nothing the coordinator answers touches a local job — while it
 * heartbeats (mode "shadow", so it shows as a factory that takes no work) and mirrors each local
 * stage to POST /fleet/observed. Every call is fire-and-forget with a short timeout and no
 * retry: a coordinator that is down or slow costs a job nothing.
 */
export function applyShadow(aq: PluginApi, settings: FleetSettings, capabilities: readonly string[]): void {
  const mirror = new ShadowMirror(settings, aq.logger);
  let runner: RunnerContext | undefined;
  let timer: NodeJS.Timeout | undefined;
  const beat = (draining = false) => {
    const load = runner ? runner.running.length / Math.max(1, runner.slots) : 0;
    mirror.send("fleet/factories/heartbeat", {
      factoryId: settings.factoryId,
      capabilities: [...capabilities],
      health: draining || runner?.draining ? "draining" : "ok",
      load,
      mode: "shadow",
    });
  };
  aq.hooks.runnerStart.tap(PLUGIN_SHADOW, (context) => {
    // Live: its draining and running follow the runner. No beforeClaim tap, so an idle runner may sleep.
    runner = context;
    aq.logger.info(
      `factory ${settings.factoryId} in shadow mode: its own queue only, stages mirrored to ${settings.api}`,
    );
    beat();
    timer = setInterval(() => beat(), settings.renewMs);
    timer.unref();
  });
  aq.hooks.onStage.tap(PLUGIN_SHADOW, (event: StageEvent) => {
    mirror.send("fleet/observed", { factoryId: settings.factoryId, jobId: event.jobId, stage: event.to });
  });
  aq.hooks.runnerStop.tapPromise(PLUGIN_SHADOW, async () => {
    clearInterval(timer);
    beat(true);
    await mirror.settle();
  });
}

const PLUGIN_SHADOW = "fleet";

/** Fire-and-forget JSON posts, each bounded by SHADOW_TIMEOUT_MS; failures are logged once until a call gets through. */
export class ShadowMirror {
  private readonly settings: FleetSettings;
  private readonly logger: Logger;
  private readonly inFlight = new Set<Promise<void>>();
  private down = false;
  private refused = false;
  /** Calls that got an answer, and calls that did not (for tests and the log). */
  readonly counts = { sent: 0, answered: 0, failed: 0 };

  constructor(settings: FleetSettings, logger: Logger) {
    this.settings = settings;
    this.logger = logger;
  }

  send(path: string, body: unknown): void {
    if (this.refused) return;
    this.counts.sent++;
    const call = this.post(path, body).finally(() => this.inFlight.delete(call));
    this.inFlight.add(call);
  }

  /** Waits for the calls in flight, which end within their timeout: at most SHADOW_TIMEOUT_MS. */
  async settle(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private async post(path: string, body: unknown): Promise<void> {
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (this.settings.token) headers.authorization = `Bearer ${this.settings.token}`;
    if (this.settings.productId) headers["x-product-id"] = this.settings.productId;
    try {
      const response = await fetch(`${this.settings.api.replace(/\/+$/, "")}/${path}`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(Math.min(SHADOW_TIMEOUT_MS, this.settings.timeoutMs)),
      });
      await response.body?.cancel().catch(() => {});
      if (response.status === 401 || response.status === 403) {
        this.refused = true;
        this.logger.error(
          `coordinator refused POST ${path} (${response.status}): shadow calls stop for this process; local jobs go on`,
        );
        return;
      }
      this.counts.answered++;
      if (this.down) this.logger.info(`coordinator ${this.settings.api} answers again (shadow)`);
      this.down = false;
      if (!response.ok) this.logger.debug(`shadow: POST ${path} answered ${response.status}`);
    } catch (error) {
      this.counts.failed++;
      if (!this.down)
        this.logger.warn(
          `shadow: coordinator unreachable for POST ${path} (${(error as Error).name}); local jobs go on, stages are not mirrored meanwhile`,
        );
      this.down = true;
    }
  }
}
