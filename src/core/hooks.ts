import { AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook, SyncHook, SyncWaterfallHook } from "tapable";
import { AqHookError, FencedError } from "./errors.ts";
import type { JobMeta } from "./meta.ts";
import type { Stage } from "./stages.ts";
import type { MaterializeInput } from "./materialize.ts";
import type { DashboardPanels, StatusJob, StatusReport } from "./contributions.ts";

/** The shapes of what plugins add to `aq status` and `aq dashboard`. */
export type * from "./contributions.ts";

/** A gate's answer: present means "no", with the reason shown to the person. */
export interface Veto {
  readonly reason: string;
  /** A tap of the gate threw: the gate failed closed, and the reason names the plugin. */
  readonly failed?: true;
}

export interface RunnerContext {
  readonly runnerId: string;
  readonly slots: number;
  /** true once the runner was asked to stop claiming (a signal or `aq drain`). */
  readonly draining: boolean;
  /** Jobs this runner holds right now. */
  readonly running: readonly string[];
}

export type ClaimContext = RunnerContext;

/**
 * A job a plugin supplies when the queue is idle: the job to materialize (`{ input }`: the runner
 * writes it into assigned/, owned by itself, and runs it), or, the older way, `{ id }` of one the
 * plugin already wrote with `ctx.materialize`.
 */
export type ClaimedJob = { readonly input: MaterializeInput } | { readonly id: string };

export interface IdleContext extends RunnerContext {
  /**
   * Writes a job straight into assigned/, owned by this runner, and returns it to be run. Kept for
   * plugins written against it; answering `{ input }` instead lets the runner do it.
   */
  materialize(input: MaterializeInput): Promise<{ readonly id: string }>;
  /**
   * A tap that supplies nothing says when it next wants to be asked (epoch ms; Infinity: only
   * when something else wakes the runner), once per call. When every onIdle tap said so, an idle
   * runner watching queued/ sleeps until the earliest of these times instead of its pollInterval.
   */
  askAgainAt(time: number): void;
}

export interface StageEvent {
  readonly jobId: string;
  readonly from: Stage | null;
  readonly to: Stage;
  readonly reason?: string | undefined;
  readonly by: string;
  readonly meta: Readonly<JobMeta>;
}

export type TerminalEvent = StageEvent;

/** Given to `building` taps while the engine runs: a timer's life and a way to stop the job. */
export interface BuildingContext {
  readonly jobId: string;
  readonly meta: Readonly<JobMeta>;
  /** Aborted when the build ends, however it ends: clear timers on it. */
  readonly signal: AbortSignal;
  /** Kills the engine's process group; a FencedError fails the job as `fenced`. */
  abort(error: Error): void;
}

/** Where a plugin answers that a job must rest instead: the runner or the action makes the move. */
export interface Park {
  readonly to: "blocked" | "quarantine";
  /** One line for meta.reason and the log. */
  readonly reason: string;
}

/** A job a plugin found must come to rest elsewhere (a lease lost while offline), found by a timer or a gate. */
export interface ParkRequest extends Park {
  readonly jobId: string;
}

/** A running job was stopped (a second signal, a drain past its timeout, a person's cancel) and goes back to queued. */
export interface CancelEvent {
  readonly jobId: string;
  /** The meta it goes back with: its wip is the checkpoint of the work so far. */
  readonly meta: Readonly<JobMeta>;
  readonly reason: string;
}

export interface ShipContext {
  readonly jobId: string;
  readonly meta: Readonly<JobMeta>;
  readonly force: boolean;
}

/** `aq add --from-tracker ITEM` asks the plugins for a job: { kind: "tracker", ref: "ITEM" }. */
export interface JobSourceRequest {
  readonly kind: string;
  readonly ref: string;
}

/** A source plugin's answer: the job to materialize, or why it could not get one (one line). */
export type JobSourceAnswer = { readonly input: MaterializeInput } | { readonly problem: string };

export type TapErrorReporter = (error: AqHookError) => void;

/**
 * The whole extension surface of aq in one frozen table (webpack's way): the hook's class says
 * what it means. Bail: a gate or a first-answer-wins supplier. Series: ordered side effects.
 * Waterfall: a value plugins transform. A tap that throws is reported with its plugin and hook
 * and the runner goes on, except for a FencedError, which reaches the runner and aborts its job,
 * and except on a gate (beforeClaim, beforeShip), where a throw is a veto naming the plugin.
 */
export function createRunnerHooks(onTapError: TapErrorReporter = () => {}) {
  const hooks = {
    /** The runner starts its loop (heartbeat, register). */
    runnerStart: new AsyncSeriesHook<[RunnerContext]>(["runner"]),
    /** Before each claim: a plugin may veto (draining) or do due periodic work. */
    beforeClaim: new AsyncSeriesBailHook<[ClaimContext], Veto | undefined>(["ctx"]),
    /**
     * The local queue has nothing claimable: a plugin may answer with a job to run (a fleet claim),
     * or answer nothing and say when to ask again (ctx.askAgainAt).
     */
    onIdle: new AsyncSeriesBailHook<[IdleContext], ClaimedJob | undefined>(["ctx"]),
    /** The engine starts: taps may keep a timer (lease renew) until ctx.signal aborts. */
    building: new SyncHook<[BuildingContext]>(["ctx"]),
    /**
     * A stopped job is about to go back to queued: a plugin may answer where it rests instead
     * (a fleet job handed back to the coordinator rests in blocked); the runner makes that one move.
     */
    onCancel: new AsyncSeriesBailHook<[CancelEvent], Park | undefined>(["event"]),
    /**
     * Each turn of the runner's loop (and when a gate refused aq ship): plugins name the jobs their
     * timers or gates found must rest elsewhere; the runner or the action moves them, one at a time.
     */
    parkJobs: new AsyncSeriesWaterfallHook<[ParkRequest[]]>(["requests"]),
    /** After every transition. */
    onStage: new AsyncSeriesHook<[StageEvent]>(["event"]),
    /** The job came to rest: shipped, dead_letter, or failed/blocked/quarantine for a person. */
    onTerminal: new AsyncSeriesHook<[TerminalEvent]>(["event"]),
    /** Last chance to refuse a merge. */
    beforeShip: new AsyncSeriesBailHook<[ShipContext], Veto | undefined>(["ctx"]),
    /** The runner is about to exit (release, last heartbeat). */
    runnerStop: new AsyncSeriesHook<[RunnerContext]>(["runner"]),
    /** A job from elsewhere (a tracker item): the first plugin that knows the kind answers. */
    jobSource: new AsyncSeriesBailHook<[JobSourceRequest], JobSourceAnswer | undefined>(["request"]),
    /** Trailers for each commit aq makes on a job's wip branch (the fleet plugin adds its lease). */
    commitTrailers: new SyncWaterfallHook<[Record<string, string>, Readonly<JobMeta>]>(["trailers", "meta"]),
    /** `aq status`: plugins add fields (factoryId) and notes. */
    status: new AsyncSeriesWaterfallHook<[StatusReport]>(["status"]),
    /** Each job of `aq status` and the dashboard: plugins add columns, badges and fields from its meta. */
    statusJob: new SyncWaterfallHook<[StatusJob, Readonly<JobMeta>]>(["job", "meta"]),
    /** `aq dashboard`: plugins add a panel under their name; taps may use cached network probes. */
    dashboard: new AsyncSeriesWaterfallHook<[DashboardPanels]>(["panels"]),
  };
  for (const [name, hook] of Object.entries(hooks)) {
    (hook as { intercept(interceptor: object): void }).intercept({
      register: (tap: Tap) => isolate(tap, name, onTapError),
    });
  }
  return Object.freeze(hooks);
}

export type RunnerHooks = ReturnType<typeof createRunnerHooks>;

interface Tap {
  name: string;
  type: "sync" | "async" | "promise";
  fn: (...args: unknown[]) => unknown;
}

const WATERFALLS: ReadonlySet<string> = new Set(["status", "statusJob", "commitTrailers", "dashboard", "parkJobs"]);
/** Gates fail closed: a tap that throws there answers "no", with a reason naming the plugin. */
const GATES: ReadonlySet<string> = new Set(["beforeClaim", "beforeShip"]);

function isolate(tap: Tap, hook: string, report: TapErrorReporter): Tap {
  const { fn, name } = tap;
  // A failed tap of a waterfall passes the value on unchanged; of any other hook, answers nothing.
  const fallback = (args: unknown[]) => (WATERFALLS.has(hook) ? args[0] : undefined);
  const handle = (error: unknown, args: unknown[]) => {
    const failure = new AqHookError(name, hook, error);
    // The veto carries the failure to whoever asked (aq ship prints it, the runner logs it): not logged twice.
    if (GATES.has(hook)) return { reason: failure.message, failed: true } satisfies Veto;
    if (error instanceof FencedError) throw error;
    report(failure);
    return fallback(args);
  };
  if (tap.type === "sync") {
    return {
      ...tap,
      fn: (...args: unknown[]) => {
        try {
          return fn(...args);
        } catch (error) {
          return handle(error, args);
        }
      },
    };
  }
  if (tap.type === "promise") {
    return {
      ...tap,
      fn: async (...args: unknown[]) => {
        try {
          return await fn(...args);
        } catch (error) {
          return handle(error, args);
        }
      },
    };
  }
  return {
    ...tap,
    fn: (...args: unknown[]) => {
      const callback = args.pop() as (error?: unknown, result?: unknown) => void;
      const done = (error: unknown, result?: unknown) => {
        if (!error) return callback(null, result);
        try {
          callback(null, handle(error, args));
        } catch (fenced) {
          callback(fenced);
        }
      };
      try {
        fn(...args, done);
      } catch (error) {
        done(error);
      }
    },
  };
}
