import { watch, type FSWatcher } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { ResolvedConfig } from "./config.ts";
import { claimNext } from "./claim.ts";
import type { EngineDef } from "./engines.ts";
import { formatDuration } from "./duration.ts";
import { oneLine } from "./errors.ts";
import type { ClaimedJob, IdleContext, RunnerContext, RunnerHooks } from "./hooks.ts";
import type { JobContext } from "./job-run.ts";
import { SHUTDOWN as CANCELLED } from "./job-run/abort.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { FileLock } from "./locks.ts";
import type { Logger } from "./logger.ts";
import { materialize, type MaterializeInput } from "./materialize.ts";
import { selfRef } from "./process-ref.ts";
import type { JobRecord } from "./queue-store.ts";
import { recoverOrphans } from "./recover.ts";
import type { Stage } from "./stages.ts";

export type RunMode = "once" | "drain" | "forever";

let jobRun: Promise<typeof import("./job-run.ts")> | undefined;
/** What runs a job (plans, engines, worktrees, settling) is loaded with the first job: an idle runner does not need it. */
const loadJobRun = () => (jobRun ??= import("./job-run.ts"));

export interface RunSummary {
  /** Each job this runner took and the stage it left it in. */
  readonly outcomes: Readonly<Record<string, Stage>>;
  readonly recovered: readonly string[];
  /** What kept this runner from working through the queue (a claim or a recovery that failed), one line each. */
  readonly problems: readonly string[];
}

export interface RunnerDeps {
  readonly lifecycle: Lifecycle;
  readonly hooks: RunnerHooks;
  readonly logger: Logger;
  readonly config: ResolvedConfig;
  readonly engines: Readonly<Record<string, EngineDef>>;
}

/**
 * The worker loop: claim (from disk, or a job a plugin supplies when the queue is idle), run,
 * transition, tell the hooks. `stop()` stops claiming and lets jobs finish; `cancel()` also
 * kills them and puts them back in the queue.
 */
export class Runner {
  readonly id = `runner:${hostname()}:${process.pid}`;
  private readonly deps: RunnerDeps;
  private readonly owner = selfRef();
  private readonly running = new Map<string, Promise<void>>();
  private readonly started = new Map<string, number>();
  private readonly outcomes: Record<string, Stage> = {};
  private readonly cancelController = new AbortController();
  private stopping = false;
  private wake: (() => void) | undefined;
  /** Something happened since the turn began (a job added, one finished, a stop): the next sleep is skipped. */
  private woken = false;
  /** The watcher on queued/ is armed: an idle runner may sleep past its pollInterval. */
  private watching = false;

  constructor(deps: RunnerDeps) {
    this.deps = deps;
  }

  /** Stop claiming; in-flight jobs finish (past the config's drainTimeout, they are cancelled). */
  stop(): void {
    if (!this.stopping) {
      this.deps.logger.info(`stopping: no new jobs; waiting for ${this.running.size} running`);
      const timeout = this.deps.config.drainTimeoutMs;
      if (timeout !== undefined) {
        setTimeout(() => {
          if (this.running.size) {
            this.deps.logger.warn(`drain timeout (${formatDuration(timeout)}) reached`);
            this.cancel();
          }
        }, timeout).unref();
      }
    }
    this.stopping = true;
    this.poke();
  }

  /** Stop now: kill running engines and requeue their jobs. */
  cancel(): void {
    this.stopping = true;
    this.deps.logger.warn(`cancelling ${this.running.size} running job(s): they go back to the queue`);
    this.cancelController.abort(CANCELLED);
    this.poke();
  }

  /** The jobs running now and since when, for progress display. */
  snapshot(): Array<{ id: string; since: number }> {
    return [...this.started.entries()].filter(([id]) => this.running.has(id)).map(([id, since]) => ({ id, since }));
  }

  async run(options: { mode: RunMode; concurrency: number }): Promise<RunSummary> {
    const { lifecycle, hooks, logger, config } = this.deps;
    const store = lifecycle.store;
    const slots = Math.max(1, options.concurrency);
    await this.register(options);
    const watcher = this.watchQueue();
    const recovered: string[] = [];
    const problems: string[] = [];
    let lastRecovery = 0;
    const recover = async (sweep = false) => {
      lastRecovery = Date.now();
      const found = await recoverOrphans(lifecycle, logger, {
        by: this.id,
        killGraceMs: config.killGraceMs,
        sweep,
        maxAttemptsOf: async (meta, dir) =>
          (await store.readSpec({ dir, id: meta.id }).catch(() => undefined))?.maxAttempts ??
          config.defaults.maxAttempts,
      }).catch((error: unknown) => {
        logger.error(`recovery failed: ${oneLine(error)}`);
        return { recovered: [], problems: [`recovery failed: ${oneLine(error)}`] };
      });
      recovered.push(...found.recovered);
      for (const problem of found.problems) if (!problems.includes(problem)) problems.push(problem);
      return found.recovered.length;
    };
    // A runner that dies while this one runs leaves jobs behind: look again now and then when idle.
    const recoveryEveryMs = Math.max(5_000, 10 * config.pollIntervalMs);
    let lastVeto: string | undefined;
    try {
      await recover(true);
      await hooks.runnerStart.promise(this.context(slots));
      let started = 0;
      for (;;) {
        // The defined point where what plugins found meanwhile (a lease lost while offline) is applied.
        await lifecycle.applyParks(this.id);
        let nothingNow = false;
        let waitUntil: number | undefined;
        let askAt: number | undefined;
        let vetoed = false;
        let waiting = 0;
        // Cleared before the claim reads queued/: a job added from now on either is seen by it or wakes the sleep.
        this.woken = false;
        while (!this.stopping && this.running.size < slots && !(options.mode === "once" && started >= 1)) {
          const veto = await hooks.beforeClaim.promise(this.context(slots));
          if (veto) {
            nothingNow = true;
            vetoed = true;
            if (!veto.failed) {
              logger.debug(`claim vetoed: ${veto.reason}`);
              break;
            }
            // A gate that failed closed: once or drain ends the run (non-zero); forever says it once and polls on.
            const problem = `claim vetoed: ${veto.reason}`;
            if (lastVeto !== problem) logger.error(problem);
            lastVeto = problem;
            if (options.mode !== "forever") {
              if (!problems.includes(problem)) problems.push(problem);
              this.stopping = true;
            }
            break;
          }
          lastVeto = undefined;
          const next = await this.claim(slots).catch((error: unknown) => {
            const problem = `claim failed: ${oneLine(error)}`;
            logger.error(problem);
            if (!problems.includes(problem)) problems.push(problem);
            return { job: undefined, waiting: 0, nextAt: undefined, askAt: undefined, failed: true };
          });
          // Once or drain: a queue that cannot be worked through ends the run (non-zero), it is not "empty".
          if ("failed" in next && options.mode !== "forever") {
            nothingNow = true;
            this.stopping = true;
            break;
          }
          waiting = next.waiting;
          waitUntil = next.nextAt;
          askAt = next.askAt;
          if (!next.job) {
            nothingNow = true;
            break;
          }
          started++;
          this.start(next.job.record, next.job.lock);
        }
        if (nothingNow && !this.stopping && Date.now() - lastRecovery >= recoveryEveryMs && (await recover()) > 0)
          continue;
        const idle = this.running.size === 0;
        if (idle && (this.stopping || (options.mode === "once" && (started >= 1 || nothingNow)))) break;
        if (idle && options.mode === "drain" && nothingNow && waiting === 0) break;
        const quiet = nothingNow && !vetoed && waiting === 0;
        const quietUntil = quiet && askAt !== undefined ? Math.min(askAt, lastRecovery + recoveryEveryMs) : undefined;
        await this.sleep(this.delay(quietUntil, waitUntil));
      }
      await Promise.allSettled(this.running.values());
      await lifecycle.applyParks(this.id);
      await hooks.runnerStop.promise(this.context(slots));
    } finally {
      watcher?.close();
      this.watching = false;
      await store.flushAudit();
      await this.unregister();
    }
    return { outcomes: { ...this.outcomes }, recovered, problems };
  }

  /**
   * How long to sleep. Polling (every pollInterval, sooner for a backoff that ends) unless the
   * watcher is armed and the turn found the queue quiet: nothing queued, no veto, and every
   * plugin asked says when it wants to be asked again. Then until `quietUntil` (the earliest of
   * those and the next orphan sweep); the watcher, a job that ends or a stop wake it sooner.
   */
  private delay(quietUntil: number | undefined, backoffEnds: number | undefined): number {
    const { pollIntervalMs } = this.deps.config;
    // A beforeClaim tap may do due periodic work: its runner keeps polling.
    if (quietUntil !== undefined && this.watching && this.deps.hooks.beforeClaim.taps.length === 0)
      return Math.max(10, quietUntil - Date.now());
    // Finite even when full: a wake-up lost between the check and the sleep costs one poll, no more.
    return backoffEnds === undefined
      ? pollIntervalMs
      : Math.max(10, Math.min(pollIntervalMs, backoffEnds - Date.now()));
  }

  private async claim(slots: number): Promise<{
    job?: { record: JobRecord; lock: FileLock | undefined };
    waiting: number;
    nextAt: number | undefined;
    /** When the onIdle taps want to be asked again, if each of them said (Infinity: none asked). */
    askAt?: number | undefined;
  }> {
    const { lifecycle, hooks, logger } = this.deps;
    const store = lifecycle.store;
    const result = await claimNext(store, { by: this.id, owner: this.owner });
    for (const id of result.adopted) logger.info(`${id}: adopted from queued/${id}.md`);
    for (const { id, problem } of result.rejected) logger.warn(`${id}: moved to failed: ${problem}`);
    await Promise.all(
      [...result.adopted, ...result.rejected.map((r) => r.id)].map(async (id) =>
        lifecycle.created(await store.get(id), this.id).catch(() => {}),
      ),
    );
    if (result.claimed) return { job: result.claimed, waiting: result.waiting, nextAt: result.nextAt };
    let askAt = Number.POSITIVE_INFINITY;
    let asked = 0;
    const supplied: ClaimedJob | undefined = await hooks.onIdle.promise(
      this.idleContext(slots, (time) => {
        asked++;
        askAt = Math.min(askAt, time);
      }),
    );
    if (supplied) {
      const what = "input" in supplied ? `a ${supplied.input.origin.kind} job` : `job ${supplied.id}`;
      try {
        const record =
          "input" in supplied ? await this.materialize(supplied.input) : await store.read("assigned", supplied.id);
        return { job: { record, lock: undefined }, waiting: result.waiting, nextAt: result.nextAt };
      } catch (error) {
        logger.error(`a plugin supplied ${what}, but it cannot run: ${oneLine(error)}`);
      }
    }
    const everyTapAsked = !supplied && asked >= hooks.onIdle.taps.length;
    return { waiting: result.waiting, nextAt: result.nextAt, askAt: everyTapAsked ? askAt : undefined };
  }

  private start(record: JobRecord, lock: FileLock | undefined): void {
    const ctx: JobContext = { ...this.deps, by: this.id, cancel: this.cancelController.signal };
    this.deps.logger.info(`${record.id}: claimed (attempt ${record.meta.attempts})`);
    const promise = loadJobRun()
      .then(({ executeJob }) => executeJob(ctx, record, lock))
      .then((stage) => {
        this.outcomes[record.id] = stage;
      })
      .catch((error) => this.deps.logger.error(`${record.id}: ${oneLine(error)}`))
      .finally(() => {
        this.running.delete(record.id);
        this.started.delete(record.id);
        this.poke();
      });
    this.running.set(record.id, promise);
    this.started.set(record.id, Date.now());
  }

  /** Live: a plugin that keeps it (the fleet heartbeat) sees draining and load as they change. */
  private context(slots: number): RunnerContext {
    const runner = this;
    return {
      runnerId: this.id,
      slots,
      get draining() {
        return runner.stopping;
      },
      get running() {
        return [...runner.running.keys()];
      },
    };
  }

  private idleContext(slots: number, askAgainAt: (time: number) => void): IdleContext {
    return {
      ...this.context(slots),
      materialize: async (input) => ({ id: (await this.materialize(input)).id }),
      askAgainAt,
    };
  }

  /** A supplied job goes straight into assigned/, owned by this runner; announced queued → assigned when it starts. */
  private materialize(input: MaterializeInput): Promise<JobRecord> {
    return materialize(this.deps.lifecycle.store, input, { stage: "assigned", by: this.id, owner: this.owner });
  }

  /** Wakes the sleeping loop, or, while it is busy with a turn, skips its next sleep. */
  private poke(): void {
    this.woken = true;
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  /** A job dropped in or added by another process wakes an idle runner at once. */
  private watchQueue(): FSWatcher | undefined {
    try {
      const watcher = watch(this.deps.lifecycle.store.stageDir("queued"), () => this.poke());
      // A watcher that failed sees nothing more: back to polling.
      watcher.on("error", () => {
        this.watching = false;
      });
      this.watching = true;
      return watcher;
    } catch {
      return undefined;
    }
  }

  /** Runners announce themselves in .aq/runners/ so that `aq status` and `aq drain` find them. */
  private async register(options: { mode: RunMode; concurrency: number }): Promise<void> {
    const dir = this.deps.lifecycle.store.stateDir("runners");
    await mkdir(dir, { recursive: true });
    const record = { ...this.owner, id: this.id, startedAt: new Date().toISOString(), ...options };
    await writeFile(join(dir, `${process.pid}.json`), `${JSON.stringify(record)}\n`);
  }

  private async unregister(): Promise<void> {
    await rm(join(this.deps.lifecycle.store.stateDir("runners"), `${process.pid}.json`), { force: true });
  }
}
