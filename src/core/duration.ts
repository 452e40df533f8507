import ms from "ms";

/**
 * The longest duration aq accepts: 24 days, under the 2^31-1 ms (24.8 days) past which Node fires
 * a timer at once (a `timeout: 30d` would kill the engine after 1 ms).
 */
export const MAX_DURATION_MS = 24 * 24 * 60 * 60 * 1000;

export const DURATION_HINT = "a duration with a unit such as 90s, 15m, 4h or 1d, at most 24d";

/**
 * Parses a duration such as `90s`, `15m`, `4h`, `1d` (anything `ms` reads that carries a unit)
 * into milliseconds. A bare number is refused: `timeout: 90` would be ambiguous. So is anything
 * past MAX_DURATION_MS: no timer could keep it.
 */
export function parseDuration(input: string | number): number | undefined {
  const value = readDuration(input);
  return value !== undefined && value <= MAX_DURATION_MS ? value : undefined;
}

/** Why `input` is not a duration aq accepts, in a few words after the value; undefined when it is one. */
export function durationProblem(input: unknown): string | undefined {
  const shown = JSON.stringify(input);
  if (typeof input !== "string" && typeof input !== "number") return `must be ${DURATION_HINT}`;
  const value = readDuration(input);
  if (value === undefined) return `${shown} is not ${DURATION_HINT}`;
  if (value > MAX_DURATION_MS) return `${shown} is longer than 24d, the longest timer aq can keep`;
  return undefined;
}

function readDuration(input: string | number): number | undefined {
  if (typeof input !== "string" || !/[a-z]\s*$/i.test(input.trim())) return undefined;
  const value = ms(input.trim() as ms.StringValue);
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

export function formatDuration(msValue: number): string {
  if (msValue < 1000) return `${Math.round(msValue)}ms`;
  if (msValue < 60_000) return `${(msValue / 1000).toFixed(1)}s`;
  return ms(Math.round(msValue), { long: false });
}
