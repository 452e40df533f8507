import type { PluginApi, RunnerContext } from "../../src/index.ts";
import type { Health } from "../../src/contract/fleet.ts";
import type { Connection } from "./connection.ts";
import type { Fence } from "./fence.ts";
import { flushAll, type Outbox } from "./report.ts";
import { renewHeld } from "./renew.ts";

/**
 * Registration is the first heartbeat. Then one every AQ_FLEET_LEASE_RENEW_SEC while the runner
 * lives, sooner after a transient failure (the connection's backoff). A heartbeat that gets
 * through also catches up the outboxes.
 */
export class Heartbeat {
  private readonly aq: PluginApi;
  private readonly connection: Connection;
  private readonly outbox: Outbox;
  private readonly fence: Fence;
  private readonly capabilities: readonly string[];
  private timer: NodeJS.Timeout | undefined;
  private runner: RunnerContext | undefined;
  private stopped = false;
  claimable: number | undefined;
  private waitingKey = "";

  constructor(aq: PluginApi, connection: Connection, outbox: Outbox, fence: Fence, capabilities: readonly string[]) {
    this.aq = aq;
    this.connection = connection;
    this.outbox = outbox;
    this.fence = fence;
    this.capabilities = capabilities;
  }

  async beat(runner?: RunnerContext, options: { periodic?: boolean } = {}): Promise<boolean> {
    if (runner) this.runner = runner;
    if (this.connection.authProblem) return false;
    const waiting = await this.outbox.waiting();
    const health: Health = this.runner?.draining ? "draining" : waiting > 0 ? "degraded" : "ok";
    const load = this.runner ? this.runner.running.length / Math.max(1, this.runner.slots) : 0;
    const result = this.connection.note(
      await (await this.connection.api()).heartbeat({ capabilities: [...this.capabilities], health, load }),
    );
    if (!result.ok) return false;
    this.claimable = result.data?.claimable;
    this.noteWaiting(result.data?.waiting ?? []);
    if (this.claimable) this.connection.workAhead();
    // A periodic beat answered, or still catching up, after the runner stopped sends nothing more: the goodbye beat does that.
    const current = () => !(options.periodic && this.stopped);
    if (!current()) return true;
    if (waiting > 0) await flushAll(this.outbox, this.fence, this.connection, current);
    if (this.runner && current()) await renewHeld(this.aq, this.connection, this.fence, current);
    return true;
  }

  /** Jobs no live factory can take are said once per set of missing capabilities, not at every beat. */
  private noteWaiting(waiting: ReadonlyArray<{ jobs: number; requires: string[]; missing: string[] }>): void {
    const key = waiting
      .map((group) => group.missing.join(",") || group.requires.join("+"))
      .sort()
      .join(" ");
    if (key === this.waitingKey) return;
    this.waitingKey = key;
    for (const group of waiting) {
      const what = group.missing.length
        ? `capabilities no live factory has: ${group.missing.join(", ")}`
        : `${group.requires.join(" and ") || "any factory"} together, which no live factory has`;
      this.aq.logger.warn(`${group.jobs} queued job(s) wait for ${what}`);
    }
  }

  start(runner: RunnerContext): void {
    this.runner = runner;
    this.stopped = false;
    const next = () => {
      if (this.stopped) return; // a beat in flight when stop() ran must not re-arm the timer
      const delay =
        this.connection.reachable === false
          ? Math.min(this.connection.settings.renewMs, Math.max(50, this.connection.delayMs()))
          : this.connection.settings.renewMs;
      this.timer = setTimeout(
        () =>
          void this.beat(undefined, { periodic: true })
            .catch((error) => this.aq.logger.debug(`heartbeat: ${(error as Error).message}`))
            .finally(next),
        delay,
      );
      this.timer.unref();
    };
    next();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
