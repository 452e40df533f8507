import { type FSWatcher, mkdirSync, statSync, watch } from "node:fs";
import type { Logger } from "../core/logger.ts";
import type { QueueStore } from "../core/queue-store.ts";
import { STAGE_NAMES, type Stage } from "../core/stages.ts";

export interface WatchOptions {
  /** Quiet time after the last change before it is reported. */
  readonly debounceMs?: number;
  /** A burst of changes is still reported at least this often. */
  readonly maxWaitMs?: number;
  /** Called once per quiet window after queue changes (stage moves, new jobs, runners, metas). */
  readonly onChange: () => void;
  /** Called when a watched job's files change (its log grows, its meta is rewritten). */
  readonly onJob: (id: string, file: string) => void;
}

/** Jobs whose files change in place while they sit in a stage: their directory is watched. */
export const WATCHED_STAGES: readonly Stage[] = ["assigned", "building", "testing"];

/**
 * Turns what happens in the queue directory into few events: one watcher per stage directory
 * (a transition is a rename between two of them, a new job a rename into queued/), one on the
 * runners' records, and one per job that is running (its log and meta change in place). A
 * change is reported once the queue has been quiet for `debounceMs`, or after `maxWaitMs` of
 * continuous changes, never more often. Where fs.watch is not available, the stage directories'
 * mtimes are compared every two seconds instead.
 */
export class QueueWatcher {
  private readonly store: QueueStore;
  private readonly options: Required<WatchOptions>;
  private readonly logger: Logger;
  private readonly watchers: FSWatcher[] = [];
  private readonly jobWatchers = new Map<string, FSWatcher>();
  private readonly jobTimers = new Map<string, NodeJS.Timeout>();
  private timer: NodeJS.Timeout | undefined;
  private firstAt = 0;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(store: QueueStore, logger: Logger, options: WatchOptions) {
    this.store = store;
    this.logger = logger;
    this.options = { debounceMs: 150, maxWaitMs: 1000, ...options };
  }

  start(): void {
    const dirs = [...STAGE_NAMES.map((stage) => this.store.stageDir(stage)), this.store.stateDir("runners")];
    try {
      mkdirSync(this.store.stateDir("runners"), { recursive: true }); // runners record themselves there
      for (const dir of dirs) {
        this.watchers.push(watch(dir, { persistent: false }, () => this.changed()).on("error", () => this.changed()));
      }
    } catch (error) {
      this.logger.warn(`cannot watch the queue directory (${(error as Error).message}); checking it every 2 s instead`);
      this.poll(dirs);
    }
  }

  /** Which running jobs to watch, after each snapshot: those in WATCHED_STAGES. */
  follow(jobs: ReadonlyArray<{ id: string; stage: Stage }>): void {
    if (this.closed) return;
    const wanted = new Map(jobs.filter((job) => WATCHED_STAGES.includes(job.stage)).map((job) => [job.id, job.stage]));
    for (const [id, watcher] of this.jobWatchers) {
      if (wanted.has(id)) continue;
      watcher.close();
      this.jobWatchers.delete(id);
    }
    for (const [id, stage] of wanted) {
      if (this.jobWatchers.has(id)) continue;
      try {
        const watcher = watch(this.store.jobDir(stage, id), { persistent: false }, (_event, file) =>
          this.jobChanged(id, String(file ?? "")),
        );
        watcher.on("error", () => {
          watcher.close();
          this.jobWatchers.delete(id);
        });
        this.jobWatchers.set(id, watcher);
      } catch {
        // moved on before we looked: the stage watchers report that
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const watcher of [...this.watchers, ...this.jobWatchers.values()]) watcher.close();
    this.jobWatchers.clear();
    for (const timer of [this.timer, this.poller, ...this.jobTimers.values()]) clearTimeout(timer);
  }

  private changed(): void {
    if (this.closed) return;
    const now = Date.now();
    if (!this.timer) this.firstAt = now;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.options.debounceMs, this.firstAt + this.options.maxWaitMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.options.onChange();
    }, wait);
  }

  /** A running job's log or meta changed: reported per job at most every debounce window. */
  private jobChanged(id: string, file: string): void {
    if (this.closed) return;
    if (file === "meta.json") this.changed();
    if (this.jobTimers.has(id)) return;
    this.jobTimers.set(
      id,
      setTimeout(() => {
        this.jobTimers.delete(id);
        this.options.onJob(id, file);
      }, this.options.debounceMs),
    );
  }

  private poll(dirs: readonly string[]): void {
    let last = "";
    const tick = () => {
      const stamp = dirs.map((dir) => statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(",");
      if (last && stamp !== last) this.changed();
      last = stamp;
      this.poller = setTimeout(tick, 2000);
    };
    tick();
  }
}
