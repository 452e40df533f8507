/**
 * A job's log holds every attempt, one after the other. Each attempt starts with one separator
 * line written by the runner, so `aq logs` and the dashboard can tell attempts apart and say when
 * each one started:
 *
 *   ──── aq · attempt 2 · 2026-12-01T20:50:56.123Z · engine claude ────
 */
const SEPARATOR = /^──── aq · attempt (\d+) · (\S+) · engine (\S+) ────$/;

export interface AttemptStart {
  readonly attempt: number;
  readonly at: string;
  readonly engine: string;
}

export function attemptSeparator(start: AttemptStart): string {
  return `──── aq · attempt ${start.attempt} · ${start.at} · engine ${start.engine} ────`;
}

export function parseAttemptSeparator(line: string): AttemptStart | undefined {
  const match = SEPARATOR.exec(line);
  return match ? { attempt: Number(match[1]), at: match[2]!, engine: match[3]! } : undefined;
}

/** The attempts a log holds, in order (a log written before separators existed has none). */
export function attemptsIn(text: string): AttemptStart[] {
  const found: AttemptStart[] = [];
  for (const line of text.split("\n")) {
    const start = parseAttemptSeparator(line);
    if (start) found.push(start);
  }
  return found;
}
