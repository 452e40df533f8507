import * as v from "valibot";
import { OUTPUT_FORMATS } from "../core/agent-output/formats.ts";
import type { EngineConfig, PluginEntry } from "../core/config.ts";
import { DURATION_HINT, durationProblem, parseDuration } from "../core/duration.ts";

const duration = v.pipe(
  v.string(`must be ${DURATION_HINT}`),
  v.check(
    (value) => parseDuration(value) !== undefined,
    (issue) => durationProblem(issue.input)!,
  ),
);

const positiveInt = (what: string) =>
  v.pipe(v.number(`must be ${what}`), v.integer(`must be ${what}`), v.minValue(1, `must be ${what}`));

export const EngineSchema = v.strictObject({
  /** argv; placeholders: {prompt}, {promptFile}, {yolo}. */
  command: v.pipe(v.array(v.string(), "must be an array of strings (argv)"), v.minLength(1, "must name a program")),
  /** How the prompt reaches the program: on stdin, as an argument, or as a file path. */
  prompt: v.optional(v.picklist(["stdin", "arg", "file"], "must be stdin, arg or file")),
  /** Arguments `yolo: true` adds (the engine's skip-permissions flag). */
  yolo: v.optional(v.array(v.string(), "must be an array of strings")),
  env: v.optional(v.record(v.string(), v.string(), "must map names to strings")),
  /** Environment `yolo: true` adds (some CLIs need one to accept their skip-permissions flag). */
  yoloEnv: v.optional(v.record(v.string(), v.string(), "must map names to strings")),
  /** How stdout is read: plain text, or one agent CLI's JSON lines (rendered into log.txt, the session kept in meta). */
  output: v.optional(v.picklist(OUTPUT_FORMATS, `must be one of ${OUTPUT_FORMATS.join(", ")}`)),
});

const PluginSpecifier = v.pipe(v.string("must be a plugin name or path"), v.nonEmpty("must be a plugin name or path"));

export const PluginEntrySchema = v.union(
  [PluginSpecifier, v.tuple([PluginSpecifier, v.union([v.literal(false), v.record(v.string(), v.unknown())])])],
  "must be a specifier, [specifier, options] or [specifier, false]",
);

export const ConfigSchema = v.strictObject(
  {
    /** The queue directory; relative to the config file. `AQ_QUEUE_DIR` overrides it. */
    queueDir: v.optional(v.pipe(v.string("must be a path"), v.nonEmpty("must be a path"))),
    /** Where a job without `cwd` works; relative to the config file. */
    workdir: v.optional(v.pipe(v.string("must be a path"), v.nonEmpty("must be a path"))),
    /** Defaults for job frontmatter. */
    defaults: v.optional(
      v.strictObject({
        engine: v.optional(v.string("must be an engine name")),
        timeout: v.optional(duration),
        stall: v.optional(duration),
        maxAttempts: v.optional(positiveInt("an integer of at least 1")),
        yolo: v.optional(v.boolean("must be true or false")),
      }),
    ),
    engines: v.optional(
      v.record(
        v.string(),
        EngineSchema,
        "must map engine names to { command, prompt?, yolo?, env?, yoloEnv?, output? }",
      ),
    ),
    concurrency: v.optional(positiveInt("an integer of at least 1")),
    retry: v.optional(v.strictObject({ backoff: v.optional(duration), maxBackoff: v.optional(duration) })),
    /** After a stop signal, how long running jobs may take before they are cancelled and requeued (default: no limit). */
    drainTimeout: v.optional(duration),
    /** How long an engine has between SIGTERM and SIGKILL. */
    killGrace: v.optional(duration),
    /** How often an idle runner looks at the queue again (it also watches the directory). */
    pollInterval: v.optional(duration),
    worktrees: v.optional(
      v.strictObject({
        /** Where job worktrees go; default `<queueDir>/.worktrees`. */
        dir: v.optional(v.string("must be a path")),
        /** A sh command run in each new worktree before the engine (copy .env, install). */
        setup: v.optional(v.string("must be a shell command")),
      }),
    ),
    /** Commit every transition when the queue is in a git work tree: true, false or "auto". */
    gitQueue: v.optional(v.union([v.boolean(), v.literal("auto")], 'must be true, false or "auto"')),
    /** The ref the git-queue's audit log is committed on (default refs/heads/aq-queue). */
    gitQueueRef: v.optional(
      v.pipe(
        v.string("must be a ref name"),
        v.regex(
          /^refs\/(?!.*\.\.)(?!.*\/\.)[A-Za-z0-9._/-]+(?<![./])$/,
          "must be a ref name such as refs/heads/aq-queue",
        ),
      ),
    ),
    plugins: v.optional(v.array(PluginEntrySchema, "must be an array")),
  },
  (issue) =>
    `unknown key (${String(issue.received)}); known keys: queueDir, workdir, defaults, engines, concurrency, retry, drainTimeout, killGrace, pollInterval, worktrees, gitQueue, gitQueueRef, plugins`,
);

export type UserConfig = v.InferInput<typeof ConfigSchema>;
export type { EngineConfig, PluginEntry };

// The schemas validate into the shapes the core declares: a drift between them is a type error here.
EngineSchema satisfies v.GenericSchema<unknown, EngineConfig>;
PluginEntrySchema satisfies v.GenericSchema<unknown, PluginEntry>;
