import {
  AsyncSeriesBailHook,
  AsyncSeriesHook,
  AsyncSeriesWaterfallHook,
  SyncBailHook,
  SyncHook,
  SyncWaterfallHook,
} from "tapable";
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

/** A job a plugin supplies: already materialized in assigned/ and owned by this runner. */
export interface ClaimedJob {
  readonly id: string;
}

export interface IdleContext extends RunnerContext {
  /** Writes a job straight into assigned/, owned by this runner, and returns it to be run. */
  materialize(input: MaterializeInput): Promise<ClaimedJob>;
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
 * and the runner goes on, except for a FencedError, which reaches the runner and aborts its job.
 */
export function createRunnerHooks(onTapError: TapErrorReporter = () => {}) {
  const hooks = {
    /** The runner starts its loop (heartbeat, register). */
    runnerStart: new AsyncSeriesHook<[RunnerContext]>(["runner"]),
    /** Before each claim: a plugin may veto (draining) or do due periodic work. */
    beforeClaim: new AsyncSeriesBailHook<[ClaimContext], Veto | undefined>(["ctx"]),
    /** The local queue has nothing claimable: a plugin may supply a job (a fleet claim). */
    onIdle: new AsyncSeriesBailHook<[IdleContext], ClaimedJob | undefined>(["ctx"]),
    /** The engine starts: taps may keep a timer (lease renew) until ctx.signal aborts. */
    building: new SyncHook<[BuildingContext]>(["ctx"]),
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
    /**
     * Which plugin delivers a job's stage echo. Echo plugins skip a job another plugin claims
     * (the fleet plugin routes fleet jobs' echo through the coordinator's events).
     */
    echoRoute: new SyncBailHook<[StageEvent], string | undefined>(["event"]),
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
export type HookName = keyof RunnerHooks;

interface Tap {
  name: string;
  type: "sync" | "async" | "promise";
  fn: (...args: unknown[]) => unknown;
}

const WATERFALLS: ReadonlySet<string> = new Set(["status", "statusJob", "commitTrailers", "dashboard"]);

function isolate(tap: Tap, hook: string, report: TapErrorReporter): Tap {
  const { fn, name } = tap;
  // A failed tap of a waterfall passes the value on unchanged; of any other hook, answers nothing.
  const fallback = (args: unknown[]) => (WATERFALLS.has(hook) ? args[0] : undefined);
  const handle = (error: unknown, args: unknown[]) => {
    if (error instanceof FencedError) throw error;
    report(new AqHookError(name, hook, error));
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
