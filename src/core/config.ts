import type { OutputFormat } from "./agent-output/formats.ts";

/**
 * The configuration as the core reads it. Declared here so that the core depends on no loader:
 * src/config validates a user's file into this shape (its schema is checked against it), and
 * the core never imports src/config.
 */

/** One engine as a config declares it (argv with placeholders {prompt}, {promptFile}, {yolo}). */
export interface EngineConfig {
  command: string[];
  /** How the prompt reaches the program: on stdin, as an argument, or as a file path. */
  prompt?: "stdin" | "arg" | "file" | undefined;
  /** Arguments `yolo: true` adds (the engine's skip-permissions flag). */
  yolo?: string[] | undefined;
  env?: Record<string, string> | undefined;
  /** Environment `yolo: true` adds (some CLIs need one to accept their skip-permissions flag). */
  yoloEnv?: Record<string, string> | undefined;
  /** How stdout is read: plain text, or one agent CLI's JSON lines. */
  output?: OutputFormat | undefined;
}

/** A plugin as the config lists it: a specifier, `[specifier, options]` or `[specifier, false]` (off). */
export type PluginEntry = string | [string, false | Record<string, unknown>];

export interface ResolvedConfig {
  /** The config file, when one was found. */
  readonly file: string | undefined;
  /** Paths in the config are relative to this: the config file's directory, else the working directory. */
  readonly dir: string;
  readonly queueDir: string;
  readonly workdir: string;
  readonly defaults: {
    engine: string;
    timeoutMs: number;
    stallMs: number | undefined;
    maxAttempts: number;
    yolo: boolean;
  };
  readonly engines: Readonly<Record<string, EngineConfig>>;
  readonly concurrency: number;
  readonly retry: { backoffMs: number; maxBackoffMs: number };
  readonly killGraceMs: number;
  readonly drainTimeoutMs: number | undefined;
  readonly pollIntervalMs: number;
  readonly worktrees: { dir: string; setup: string | undefined };
  readonly gitQueue: boolean | "auto";
  readonly gitQueueRef: string | undefined;
  readonly plugins: readonly PluginEntry[];
}
