import type { Logger } from "../../src/index.ts";
import type { HttpOutcome } from "../shared/http.ts";
import type { FleetClient } from "./client.ts";
import type { FleetSettings } from "./settings.ts";

/**
 * What the factory knows of the coordinator: whether it answered last time, when it may be asked
 * again after transient failures (exponential backoff with jitter, or its Retry-After), and
 * whether it refused our credentials — then fleet calls stop, loudly, and local jobs go on.
 */
export class Connection {
  readonly settings: FleetSettings;
  private readonly logger: Logger;
  private client: Promise<FleetClient> | undefined;
  reachable: boolean | undefined;
  /** No claim before this time: the coordinator had nothing to do a moment ago. */
  quietUntil = 0;
  /** "Nothing to do" answers to claims in a row: the pause before the next claim grows with them. */
  emptyAnswers = 0;
  lastProblem: string | undefined;
  authProblem: string | undefined;
  private failures = 0;
  private readonly warned = new Set<string>();
  private backoffUntil = 0;

  constructor(settings: FleetSettings, logger: Logger) {
    this.settings = settings;
    this.logger = logger;
  }

  /** The HTTP client, imported on first use so commands that never call the coordinator stay fast. */
  api(): Promise<FleetClient> {
    return (this.client ??= import("./client.ts").then(({ FleetClient }) => new FleetClient(this.settings)));
  }

  /** There is work (a job was claimed, a heartbeat said so): the next claim may come at once. */
  workAhead(): void {
    this.quietUntil = 0;
    this.emptyAnswers = 0;
  }

  /** Calls that can wait (heartbeat, claim, catching up the outboxes) respect the backoff. */
  mayCall(now = Date.now()): boolean {
    return this.authProblem === undefined && now >= this.backoffUntil;
  }

  /** How long until the next optional call, for the heartbeat's timer. */
  delayMs(now = Date.now()): number {
    return Math.max(0, this.backoffUntil - now);
  }

  /**
   * Records how a call went: success resets the backoff; a transient failure grows it. An answer
   * that is neither (garbage with a 2xx, an unexpected 4xx) is logged once per kind of problem;
   * 409 (fenced) and 404 are the callers' to report.
   */
  note<T>(outcome: HttpOutcome<T>): HttpOutcome<T> {
    if (outcome.ok || !outcome.transient) {
      if (!outcome.ok && (outcome.status === 401 || outcome.status === 403)) {
        if (this.authProblem === undefined) {
          this.logger.error(`${outcome.problem}: fleet calls stop for this process; local jobs go on`);
        }
        this.authProblem = outcome.problem;
      } else if (!outcome.ok && outcome.status !== 409 && outcome.status !== 404) {
        const kind = outcome.problem.replace(/fleet\/jobs\/[^/ ]+/, "fleet/jobs/:id");
        if (!this.warned.has(kind) && this.warned.size < 100) this.logger.warn(outcome.problem);
        this.warned.add(kind);
      }
      if (!this.reachable && this.reachable !== undefined)
        this.logger.info(`coordinator ${this.settings.api} answers again`);
      this.reachable = true;
      this.failures = 0;
      this.backoffUntil = 0;
      if (!outcome.ok) this.lastProblem = outcome.problem;
      return outcome;
    }
    if (this.reachable !== false)
      this.logger.warn(`${outcome.problem}; working offline, reports wait in each job's outbox`);
    this.reachable = false;
    this.lastProblem = outcome.problem;
    this.failures++;
    const exponential = Math.min(this.settings.renewMs, 500 * 2 ** (this.failures - 1));
    const delay = outcome.retryAfterMs ?? exponential * (0.5 + Math.random() / 2);
    this.backoffUntil = Date.now() + delay;
    return outcome;
  }
}
