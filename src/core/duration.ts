import ms from "ms";

/**
 * Parses a duration such as `90s`, `15m`, `4h`, `1d` (anything `ms` reads that carries a unit)
 * into milliseconds. A bare number is refused: `timeout: 90` would be ambiguous.
 */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input !== "string" || !/[a-z]\s*$/i.test(input.trim())) return undefined;
  const value = ms(input.trim() as ms.StringValue);
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

export const DURATION_HINT = "a duration with a unit such as 90s, 15m, 4h or 1d";

export function formatDuration(msValue: number): string {
  if (msValue < 1000) return `${Math.round(msValue)}ms`;
  if (msValue < 60_000) return `${(msValue / 1000).toFixed(1)}s`;
  return ms(Math.round(msValue), { long: false });
}
