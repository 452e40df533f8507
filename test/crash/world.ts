import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { JobMeta } from "../../src/core/meta.ts";
import { STAGE_NAMES } from "../../src/core/stages.ts";
import { git } from "../helpers/git.ts";
import { gitWorld, type GitWorld } from "../helpers/git-world.ts";
import { aq, type CliResult } from "../helpers/cli.ts";

export const LOG_REF = "refs/heads/aq-queue";

/**
 * A job script that proves what a crash must never cause: it records its pid and, if the pid
 * of an earlier run of the same job still runs, writes `<id>.double`. Its first attempt runs a
 * while (so a runner killed at its start leaves it running) and fails, so retries are exercised.
 */
export function flakyScript(flags: string, firstSeconds = 0.6): string {
  return [
    `f="${flags}/$AQ_JOB_ID"`,
    // A killed engine whose parent died stays a zombie until init reaps it: dead, so not a second run.
    `if [ -f "$f.pid" ]; then st=$(sed 's/.*) //' "/proc/$(cat "$f.pid")/stat" 2>/dev/null | cut -d' ' -f1); case "$st" in ""|Z|X) ;; *) echo double >> "$f.double" ;; esac; fi`,
    `echo $$ > "$f.pid"`,
    `n=$(cat "$f.count" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$f.count"`,
    `echo "attempt $n" >> work.txt`,
    `if [ $n -eq 1 ]; then sleep ${firstSeconds}; exit 1; fi`,
  ].join("\n");
}

export interface CrashWorld extends GitWorld {
  readonly flags: string;
  readonly initial: string;
  /** `aq ARGS` in home/, with extra env (AQ_CRASH_POINT). */
  run(args: readonly string[], env?: Record<string, string>, timeoutMs?: number): Promise<CliResult>;
}

export function crashWorld(config: Record<string, unknown> = {}): CrashWorld {
  const w = gitWorld({
    queueInGit: true,
    config: { retry: { backoff: "400ms", maxBackoff: "400ms" }, killGrace: "200ms", ...config },
  });
  const flags = join(w.root, "jobs");
  const initial = git(w.home, "rev-parse", "HEAD");
  return {
    ...w,
    flags,
    initial,
    run: (args, env = {}, timeoutMs = 150_000) => aq(args, { cwd: w.home, env, timeoutMs }),
  };
}

/** Ids per stage directory, as the disk has them. */
export function placement(queue: string): Map<string, string[]> {
  const where = new Map<string, string[]>();
  for (const stage of STAGE_NAMES) {
    const dir = join(queue, stage);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      where.set(entry.name, [...(where.get(entry.name) ?? []), stage]);
    }
  }
  return where;
}

/** Live processes started for jobs of this queue (their environment names it). */
export function enginesOf(queue: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (/^[ZX]$/.test(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!)) continue;
      if (readFileSync(`/proc/${name}/environ`, "utf8").split("\0").includes(`AQ_QUEUE_DIR=${queue}`))
        found.push(Number(name));
    } catch {
      // gone
    }
  }
  return found;
}

/**
 * The queue converged: each job in exactly one stage with a whole meta.json (no half-done step
 * left), no engine of its own still running, no engine of a job ever ran twice at once, the audit
 * log's repository passes `git fsck` and its ref holds each job where the disk has it, and the
 * person's branch is where it was.
 */
export function expectConverged(w: CrashWorld, expected: Record<string, string>): void {
  const where = placement(w.queue);
  expect(Object.fromEntries([...where].map(([id, stages]) => [id, stages.join(",")]))).toEqual(expected);
  for (const [id, [stage]] of where) {
    const dir = join(w.queue, stage!, id);
    expect(
      readdirSync(dir).filter((name) => name.startsWith("meta.next") || name.endsWith(".tmp")),
      `${id}: half-done step left`,
    ).toEqual([]);
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as JobMeta;
    expect(meta.stage).toBe(stage);
    expect(meta.requeue, `${id}: a requeue left undone`).toBeUndefined();
    expect(existsSync(join(w.flags, `${id}.double`)), `${id}: two engines ran at once`).toBe(false);
    expect(
      git(w.home, "cat-file", "-e", `${LOG_REF}:queue/${stage}/${id}/meta.json`) === "",
      `${id}: the audit log does not hold it in ${stage}`,
    ).toBe(true);
  }
  expect(enginesOf(w.queue)).toEqual([]);
  execFileSync("git", ["fsck", "--no-progress", "--no-dangling"], { cwd: w.home, stdio: "pipe" });
  expect(git(w.home, "rev-parse", "HEAD")).toBe(w.initial);
}

/**
 * Every retry that carried a backoff was claimed no earlier than the backoff allowed. The backoff
 * runs from the failure (it is announced then, "retry 2 of 3 in 400ms"), so it is measured from
 * the move into failed/, not from the requeue that follows it once the audit commit is made.
 */
export function expectBackoffKept(meta: JobMeta): void {
  meta.history.forEach((entry, i) => {
    const wait = entry.to === "queued" ? /in (\d+)ms$|in ([\d.]+)s$/.exec(entry.reason ?? "") : null;
    const claim = meta.history.slice(i + 1).find((later) => later.to === "assigned");
    if (!wait || !claim) return;
    const failed = meta.history.slice(0, i).findLast((earlier) => earlier.to === "failed") ?? entry;
    const ms = wait[1] ? Number(wait[1]) : Number(wait[2]) * 1000;
    // A few ms pass between the backoff's start and the failure's history entry (the meta read).
    expect(
      Date.parse(claim.at) - Date.parse(failed.at),
      `claimed before its backoff of ${ms} ms ended`,
    ).toBeGreaterThanOrEqual(ms - 25);
  });
}
