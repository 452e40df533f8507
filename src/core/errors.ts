import { withoutCredentials } from "./redact.ts";

/** Error codes a user can see; the CLI maps them to exit codes (2 for bad input, 1 otherwise). */
export type AqErrorCode =
  | "AQ_BAD_USAGE"
  | "AQ_BAD_JOB"
  | "AQ_BAD_CONFIG"
  | "AQ_BAD_PLUGIN"
  | "AQ_NOT_FOUND"
  | "AQ_CONFLICT"
  | "AQ_FAILED";

const BAD_INPUT: ReadonlySet<AqErrorCode> = new Set([
  "AQ_BAD_USAGE",
  "AQ_BAD_JOB",
  "AQ_BAD_CONFIG",
  "AQ_BAD_PLUGIN",
  "AQ_NOT_FOUND",
]);

/** An error with a code and a one-line message; only the CLI's top turns it into output. */
export class AqError extends Error {
  readonly code: AqErrorCode;
  constructor(code: AqErrorCode, message: string, options?: { cause?: unknown }) {
    // What reaches a person never repeats a URL's user:password.
    super(withoutCredentials(message), options);
    this.name = "AqError";
    this.code = code;
  }
  get exitCode(): 1 | 2 {
    return BAD_INPUT.has(this.code) ? 2 : 1;
  }
}

/** Thrown by a plugin when the job it names is no longer ours (a fleet lease was lost). */
export class FencedError extends Error {
  readonly jobId: string;
  constructor(jobId: string, message = "fenced") {
    super(message);
    this.name = "FencedError";
    this.jobId = jobId;
  }
}

/**
 * The job was fenced and the fence is applied (it rests in failed with reason `fenced`): what a
 * move answers its caller then, so a runner stops the job and a command says so (exit 1).
 */
export class JobFenced extends AqError {
  readonly jobId: string;
  readonly stage = "failed" as const;
  constructor(jobId: string, detail: string) {
    super("AQ_FAILED", `${jobId}: fenced: ${detail}`);
    this.name = "JobFenced";
    this.jobId = jobId;
  }
}

/** A plugin's tap failed: carries which plugin and which hook, like webpack's HookWebpackError. */
export class AqHookError extends Error {
  readonly plugin: string;
  readonly hook: string;
  constructor(plugin: string, hook: string, cause: unknown) {
    super(`${plugin}: ${hook} failed: ${oneLine(cause)}`, { cause });
    this.name = "AqHookError";
    this.plugin = plugin;
    this.hook = hook;
  }
}

/** The first line of an error's message, for logs that must stay one line. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n", 1)[0]!.trim();
}

/** Every line of an error's message joined into one (a library's "JSON Error in FILE:\nUnexpected end"). */
export function joinedLines(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .join(" ");
}

export function isErrno(error: unknown, ...codes: string[]): error is NodeJS.ErrnoException {
  return error instanceof Error && codes.includes((error as NodeJS.ErrnoException).code ?? "");
}
