/**
 * Named instants where a test can make this process die by SIGKILL, to prove that a crash there
 * leaves nothing the next runner cannot finish or roll back. `AQ_CRASH_POINT=<name>` (or
 * `<name>:<n>`, the n-th time the point is reached) is read only here, once; unset, a point costs
 * one comparison.
 */
export const CRASH_POINTS = [
  "create:scratch-written",
  "create:renamed",
  "move:next-meta-written",
  "move:renamed",
  "move:meta-settled",
  "atomic:temp-written",
  "fail:before-requeue",
  "git:snapshot-taken",
  "git:import-fed",
  "git:ref-updated",
  "worktree:added",
  "spawn:recorded",
  "spawn:started",
  "spawn:pgid-recorded",
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

const wanted = parse(process.env.AQ_CRASH_POINT);
let hits = 0;

function parse(value: string | undefined): { name: string; nth: number } | undefined {
  if (!value) return undefined;
  const [name, nth] =
    value.split(":").length > 2
      ? [value.slice(0, value.lastIndexOf(":")), value.slice(value.lastIndexOf(":") + 1)]
      : [value, "1"];
  return { name: name!, nth: Number(nth) || 1 };
}

export function crashPoint(name: CrashPoint): void {
  if (wanted === undefined || wanted.name !== name) return;
  if (++hits < wanted.nth) return;
  process.kill(process.pid, "SIGKILL");
}
