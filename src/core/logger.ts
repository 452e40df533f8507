import { type ConsolaInstance, createConsola, LogLevels } from "consola/basic";

export type Logger = ConsolaInstance;

/**
 * aq's one logger. Everything goes to stderr so that stdout stays for what a command answers
 * (an id, a table, JSON). Tests swap its reporters to record log objects.
 */
export function createLogger(options: { level?: keyof typeof LogLevels | undefined } = {}): Logger {
  const envLevel = process.env.AQ_LOG_LEVEL as keyof typeof LogLevels | undefined;
  const name = options.level ?? (envLevel && envLevel in LogLevels ? envLevel : "info");
  return createConsola({
    level: LogLevels[name],
    stdout: process.stderr,
    stderr: process.stderr,
    formatOptions: { date: false, colors: process.stderr.isTTY === true && !process.env.NO_COLOR, compact: true },
  });
}
