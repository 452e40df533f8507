import type { LogObject } from "consola";
import { createLogger, type Logger } from "../../src/core/logger.ts";

/** A real aq logger whose output is recorded instead of printed: tests assert on log lines. */
export function recordingLogger(): { logger: Logger; records: LogObject[]; lines(): string[] } {
  const logger = createLogger({ level: "debug" });
  const records: LogObject[] = [];
  logger.setReporters([{ log: (entry) => records.push(entry) }]);
  const lines = () =>
    records.map((entry) => [entry.tag ? `${entry.tag}: ` : "", ...entry.args.map(String)].join(" ").trim());
  return { logger, records, lines };
}
