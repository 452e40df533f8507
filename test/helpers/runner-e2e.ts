import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { onTestFinished } from "vitest";
import { parseJob } from "../../src/core/job-file.ts";
import type { HistoryEntry, JobMeta } from "../../src/core/meta.ts";
import { QueueStore } from "../../src/core/queue-store.ts";
import type { Stage } from "../../src/core/stages.ts";
import { type CliResult, startAq, writeTestConfig } from "./cli.ts";
import { jobText } from "./jobs.ts";
import { tempDir } from "./temp.ts";

/** A temp dir (not a git repo) with the fast test config; the queue is `<dir>/queue`. */
export function runnerSetup(config: Record<string, unknown> = {}): { dir: string; queue: string } {
  const dir = tempDir("aq-runner-");
  writeTestConfig(dir, config);
  return { dir, queue: join(dir, "queue") };
}

/**
 * Puts jobs in queued/ through the real queue store, in order, each strictly younger than the
 * one before (createdAt has millisecond resolution, and age breaks priority ties).
 */
export async function enqueue(
  queue: string,
  jobs: ReadonlyArray<{ id: string; frontmatter?: Record<string, unknown>; body: string }>,
): Promise<void> {
  const store = await QueueStore.open(queue);
  for (const job of jobs) {
    const text = jobText({ engine: "shell", ...job.frontmatter }, job.body);
    await store.create(
      { id: job.id, text, spec: parseJob(text, `${job.id}.md`), origin: { kind: "local" } },
      { by: "test" },
    );
    const created = Date.now();
    while (Date.now() <= created) await sleep(1);
  }
}

export type Running = ReturnType<typeof startAq>;

/** Starts `aq ARGS` in `dir`; killed (SIGKILL, by its pid) if the test ends while it still runs. */
export function spawnAq(dir: string, args: readonly string[], env: Record<string, string | undefined> = {}): Running {
  const child = startAq(args, { cwd: dir, env, timeoutMs: 90_000 });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return child;
}

/** Runs `aq ARGS` to the end; also gives its pid, which names the runner in history (`runner:<host>:<pid>`). */
export async function runAq(
  dir: string,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<CliResult & { pid: number }> {
  const child = spawnAq(dir, args, env);
  const result = await child.exited;
  return { ...result, pid: child.pid! };
}

export function runnerIdOf(pid: number): string {
  return `runner:${hostname()}:${pid}`;
}

/** Whether a process runs: it exists and is not a zombie waiting to be reaped. */
export function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  return state !== "Z" && state !== "X";
}

/** Kills (SIGKILL, by pid) any of these processes still running when the test ends: a failed test leaves nothing behind. */
export function killAtEnd(...pids: number[]): void {
  onTestFinished(() => {
    for (const pid of pids) {
      if (!isRunning(pid)) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  });
}

/** A pid a job script wrote to a file, once the file is complete. */
export async function pidFrom(path: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8");
      if (/^\d+\n$/.test(text)) return Number(text.trim());
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for a pid in ${path}`);
    await sleep(20);
  }
}

/** Non-empty lines of a text file ([] when it does not exist). */
export function linesOf(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line !== "");
}

/** Nanosecond timestamp a script wrote with `date +%s%N`. */
export function stampOf(path: string): bigint {
  return BigInt(readFileSync(path, "utf8").trim());
}

/** A job script fragment: record start and end (ns) in DIR/<job id>.start|.end around a sleep. */
export function timedScript(dir: string, seconds: number): string {
  return [`date +%s%N > "${dir}/$AQ_JOB_ID.start"`, `sleep ${seconds}`, `date +%s%N > "${dir}/$AQ_JOB_ID.end"`].join(
    "\n",
  );
}

/**
 * A job script for proving two jobs run at once without trusting the scheduler's timing: it
 * records its start, then waits (up to `waitSeconds`) for PARTNER's start and, if that comes
 * while it still runs, writes DIR/<job id>.met. Start and end are stamped as in timedScript.
 */
export function meetScript(dir: string, partner: string, waitSeconds = 3): string {
  return [
    `date +%s%N > "${dir}/$AQ_JOB_ID.start"`,
    "i=0",
    `while [ ! -f "${dir}/${partner}.start" ] && [ $i -lt ${Math.round(waitSeconds / 0.02)} ]; do sleep 0.02; i=$((i + 1)); done`,
    `if [ -f "${dir}/${partner}.start" ]; then echo met > "${dir}/$AQ_JOB_ID.met"; fi`,
    "sleep 0.05",
    `date +%s%N > "${dir}/$AQ_JOB_ID.end"`,
  ].join("\n");
}

export function intervalOf(dir: string, id: string): { id: string; start: bigint; end: bigint } {
  return { id, start: stampOf(join(dir, `${id}.start`)), end: stampOf(join(dir, `${id}.end`)) };
}

/** The most intervals that were open at one moment. */
export function maxOverlap(intervals: ReadonlyArray<{ start: bigint; end: bigint }>): number {
  const events = intervals.flatMap((i) => [
    { at: i.start, delta: 1 },
    { at: i.end, delta: -1 },
  ]);
  // At equal times an end comes before a start: touching intervals do not overlap.
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.delta - b.delta));
  let open = 0;
  let most = 0;
  for (const event of events) {
    open += event.delta;
    most = Math.max(most, open);
  }
  return most;
}

/** The history entries that moved a job into `to`, in order. */
export function entriesTo(meta: JobMeta, to: HistoryEntry["to"]): HistoryEntry[] {
  return meta.history.filter((entry) => entry.to === to);
}

export function at(entry: HistoryEntry | undefined): number {
  if (!entry) throw new Error("no such history entry");
  return Date.parse(entry.at);
}

/**
 * Whether a job rests in `stage`: its directory is there and its meta.json says so (the rename
 * is the transition; meta.json is rewritten just after it). Safe to poll while a runner moves it.
 */
export function settledIn(queue: string, id: string, stage: Stage): boolean {
  try {
    const meta = JSON.parse(readFileSync(join(queue, stage, id, "meta.json"), "utf8")) as JobMeta;
    return meta.stage === stage;
  } catch {
    return false;
  }
}
