import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";
import { groupAlive } from "./process-ref.ts";
import { openForAppend } from "./queue-file.ts";

export interface GroupRun {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly stdin?: string | undefined;
  /** stdout and stderr are appended here. */
  readonly logFile: string;
  readonly timeoutMs?: number | undefined;
  /** No output for this long counts as stalled. */
  readonly stallMs?: number | undefined;
  readonly killGraceMs: number;
  /** Aborting it kills the group (shutdown, fencing); its reason comes back as `aborted`. */
  readonly signal?: AbortSignal;
  readonly onSpawn?: (pgid: number) => void;
  /** Each complete stdout line, for markers such as `AQ_BLOCKED:`. */
  readonly onLine?: (line: string) => void;
  /**
   * Structured stdout (an agent CLI's JSON lines): the raw stream goes to `rawLogFile`, and the
   * log gets what `line` makes of each line (and `end` at the end), so it stays readable by a person.
   */
  readonly render?: {
    readonly line: (raw: string) => readonly string[];
    readonly end: () => readonly string[];
    readonly rawLogFile: string;
  };
  /** Called on any output, stdout or stderr. */
  readonly onOutput?: () => void;
}

export interface GroupResult {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stalled: boolean;
  readonly aborted: unknown;
  /** The program could not be started (not installed, not executable). */
  readonly spawnError: NodeJS.ErrnoException | undefined;
  readonly durationMs: number;
}

/**
 * Runs a program as the leader of its own process group (setsid), so that it and everything it
 * starts can be ended together: SIGTERM to the group, SIGKILL after the grace period. The
 * group is ended on timeout, on stall, on abort, and after the leader exits (leftovers).
 */
export function runInGroup(run: GroupRun): Promise<GroupResult> {
  const started = Date.now();
  // Opened so that a link planted in a log's place is refused, never followed.
  const log = createWriteStream("", { fd: openForAppend(run.logFile) });
  const rawLog = run.render ? createWriteStream("", { fd: openForAppend(run.render.rawLogFile) }) : undefined;
  // A log that cannot be written (disk full) must not take the runner down with it.
  for (const stream of [log, rawLog]) stream?.on("error", () => {});
  const logLines = (lines: readonly string[]) => lines.length && log.write(`${lines.join("\n")}\n`);
  return new Promise((resolve) => {
    let timedOut = false;
    let stalled = false;
    let finished = false;
    let aborted: unknown;
    let spawnError: NodeJS.ErrnoException | undefined;
    let killing: Promise<void> | undefined;
    let lastOutput = Date.now();
    const child = spawn(run.file, run.args, {
      cwd: run.cwd,
      env: run.env,
      detached: true,
      stdio: [run.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const closed = new Promise((done) => child.once("close", done));
    const pgid = child.pid;
    const kill = () => (killing ??= pgid === undefined ? Promise.resolve() : killGroup(pgid, run.killGraceMs));
    const timers: NodeJS.Timeout[] = [];
    if (run.timeoutMs !== undefined)
      timers.push(
        setTimeout(() => {
          timedOut = true;
          void kill();
        }, run.timeoutMs),
      );
    if (run.stallMs !== undefined) {
      const stallMs = run.stallMs;
      timers.push(
        setInterval(
          () => {
            if (Date.now() - lastOutput < stallMs) return;
            stalled = true;
            void kill();
          },
          Math.min(stallMs, 1000),
        ),
      );
    }
    const onAbort = () => {
      aborted = run.signal?.reason ?? new Error("aborted");
      void kill();
    };
    if (run.signal?.aborted) onAbort();
    else run.signal?.addEventListener("abort", onAbort, { once: true });
    if (pgid !== undefined) run.onSpawn?.(pgid);

    let pending = "";
    // One decoder for the whole stream: a character split between two chunks stays whole.
    const decoder = new StringDecoder("utf8");
    const takeLine = (line: string) => {
      run.onLine?.(line);
      if (run.render) logLines(run.render.line(line));
    };
    const byLine = Boolean(run.onLine || run.render);
    child.stdout?.on("data", (chunk: Buffer) => {
      if (finished) return; // from a process that escaped the group, after the run was over
      lastOutput = Date.now();
      run.onOutput?.();
      if (rawLog) rawLog.write(chunk);
      if (!run.render) log.write(chunk);
      if (!byLine) return;
      pending += decoder.write(chunk);
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) takeLine(line.replace(/\r$/, ""));
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      if (finished) return;
      lastOutput = Date.now();
      run.onOutput?.();
      log.write(chunk);
    });
    child.stdin?.on("error", () => {}); // an engine that exits without reading its prompt
    if (run.stdin !== undefined) child.stdin?.end(run.stdin);

    child.once("error", (error: NodeJS.ErrnoException) => {
      spawnError = error;
    });
    child.once("exit", (exitCode, signal) => {
      // The leader is gone; whatever it left behind in its group goes too, then stdio closes.
      void kill().then(async () => {
        // stdio closes once the last holder of the pipes is gone; bounded in case one escaped the group.
        const cap = new AbortController();
        await Promise.race([closed, sleep(run.killGraceMs + 1000, undefined, { signal: cap.signal }).catch(() => {})]);
        cap.abort();
        pending += decoder.end();
        if (pending && byLine) takeLine(pending);
        if (run.render) logLines(run.render.end());
        finish(exitCode, signal);
      });
    });
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return;
      finished = true;
      child.stdout?.destroy();
      child.stderr?.destroy();
      for (const timer of timers) clearTimeout(timer);
      run.signal?.removeEventListener("abort", onAbort);
      rawLog?.end();
      log.end(() =>
        resolve({ exitCode, signal, timedOut, stalled, aborted, spawnError, durationMs: Date.now() - started }),
      );
    };
    if (pgid === undefined) child.once("error", () => finish(null, null));
  });
}

/** SIGTERM to the whole group, SIGKILL to whatever is left after the grace period. */
export async function killGroup(pgid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pgid, "SIGTERM")) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(Math.min(50, graceMs));
    if (!groupAlive(pgid)) return;
  }
  signalGroup(pgid, "SIGKILL");
  // Give the kernel a moment; zombies not yet reaped by their parent still count as members.
  for (let i = 0; i < 20 && groupAlive(pgid); i++) await sleep(25);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
