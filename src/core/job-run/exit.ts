/** An engine that exits 3 (or prints `AQ_BLOCKED:`) needs a person: the job rests in blocked/. */
export const BLOCKED_EXIT_CODE = 3;

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited ${code}`;
}
