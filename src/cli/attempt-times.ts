import type { HistoryEntry } from "../core/meta.ts";

export interface AttemptTimes {
  readonly attempt: number;
  readonly claimedAt: string;
  /** Time in queued/ before this claim. */
  readonly waitedMs: number;
  /** The engine's time in building/ (so far, for the attempt that runs). */
  readonly buildMs: number | undefined;
  readonly outcome: string | undefined;
}

/** Each attempt from a job's history: a claim (queued → assigned) up to the move out of assigned/building. */
export function attemptTimes(history: readonly HistoryEntry[], now = Date.now()): AttemptTimes[] {
  const attempts: Array<{ -readonly [K in keyof AttemptTimes]: AttemptTimes[K] } & { buildFrom?: number }> = [];
  let queuedSince = history[0] ? Date.parse(history[0].at) : now;
  let current: (typeof attempts)[number] | undefined;
  for (const entry of history) {
    const at = Date.parse(entry.at);
    if (entry.from === "queued" && entry.to === "assigned") {
      current = {
        attempt: attempts.length + 1,
        claimedAt: entry.at,
        waitedMs: at - queuedSince,
        buildMs: undefined,
        outcome: undefined,
      };
      attempts.push(current);
    } else if (current && entry.to === "building") current.buildFrom = at;
    else if (current && (entry.from === "assigned" || entry.from === "building")) {
      current.outcome = entry.to;
      if (current.buildFrom !== undefined) current.buildMs = at - current.buildFrom;
      current = undefined;
    }
    if (entry.to === "queued") queuedSince = at;
  }
  if (current?.buildFrom !== undefined) current.buildMs = now - current.buildFrom;
  return attempts.map(({ buildFrom: _, ...rest }) => rest);
}
