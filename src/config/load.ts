import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Loader } from "cosmiconfig";
import { parseDuration } from "../core/duration.ts";
import { AqError, oneLine } from "../core/errors.ts";
import { check } from "../core/validation.ts";
import type { ResolvedConfig } from "../core/config.ts";
import { ConfigSchema, type UserConfig } from "./schema.ts";

export type { ResolvedConfig };

const PLACES = [
  "package.json",
  "aq.config.ts",
  "aq.config.mts",
  "aq.config.js",
  "aq.config.mjs",
  "aq.config.cjs",
  "aq.config.json",
];

const loadModule: Loader = async (filepath) => {
  // Loaded only when a config file is code, not for a JSON one or none.
  const { importModule } = await import("./ts-loader.ts");
  const module = await importModule(filepath);
  return module.default ?? module;
};

export interface LoadConfigOptions {
  readonly cwd?: string;
  /** An explicit config file (`--config`, `AQ_CONFIG`); no search then. */
  readonly file?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The directories searched for a config, nearest first: the working directory and its parents up
 * to the project's boundary — the root of the git repository it is in, else the home directory
 * when it is below it, else the working directory alone. A config planted above the project (a
 * shared /tmp, a checkout root) is never loaded; `--config FILE` names one anywhere.
 */
export function configSearchDirs(cwd: string, home = homedir()): string[] {
  const dirs: string[] = [];
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    dirs.push(dir);
    if (existsSync(resolve(dir, ".git"))) return dirs;
    if (dirname(dir) === dir) break;
  }
  const inHome = home !== "" && !relative(home, cwd).startsWith("..") && !isAbsolute(relative(home, cwd));
  if (!inHome || resolve(home) === resolve(home, sep)) return [resolve(cwd)];
  return dirs.slice(0, dirs.indexOf(resolve(home)) + 1);
}

/**
 * Finds the config from the working directory upwards to the project's boundary (cosmiconfig's
 * loaders, one directory at a time), validates it (valibot) and resolves every path and duration.
 * A bad config throws one line naming the file and key. Reading it creates nothing.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const explicit = options.file ?? (env.AQ_CONFIG || undefined);
  let found: { config: unknown; filepath: string; isEmpty?: boolean } | null = null;
  const where = explicit ? resolve(cwd, explicit) : cwd;
  const dirs = explicit
    ? []
    : configSearchDirs(cwd).filter((dir) => PLACES.some((place) => existsSync(join(dir, place))));
  // cosmiconfig takes some 20 ms to import: it is loaded only where there is a file for it to read. It is made
  // outside the try below, as before: when made, it reads the working directory's package.json for its own settings.
  const explorer =
    explicit || dirs.length || existsSync(join(process.cwd(), "package.json"))
      ? (await import("cosmiconfig")).cosmiconfig("aq", {
          searchPlaces: PLACES,
          searchStrategy: "none",
          cache: false,
          loaders: { ".ts": loadModule, ".mts": loadModule, ".js": loadModule, ".mjs": loadModule, ".cjs": loadModule },
        })
      : undefined;
  try {
    if (explicit) found = await explorer!.load(where);
    else for (const dir of dirs) if ((found = await explorer!.search(dir))) break;
  } catch (error) {
    const file = (error as { filepath?: string }).filepath ?? where;
    if ((error as NodeJS.ErrnoException).code === "ENOENT")
      throw new AqError("AQ_BAD_CONFIG", `${file}: config file not found`);
    throw new AqError("AQ_BAD_CONFIG", `${file}: cannot be loaded: ${oneLine(error)}`);
  }
  const file = found?.filepath;
  const raw = found && !found.isEmpty ? found.config : {};
  const result = check(ConfigSchema, raw ?? {});
  if (!result.ok) throw new AqError("AQ_BAD_CONFIG", `${file ?? "config"}: ${result.problem}`);
  return resolveConfig(result.value, file, cwd, env);
}

export function resolveConfig(
  config: UserConfig,
  file: string | undefined,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const dir = file ? dirname(file) : cwd;
  const at = (path: string) => (isAbsolute(path) ? path : resolve(dir, path));
  const queueDir = env.AQ_QUEUE_DIR ? resolve(cwd, env.AQ_QUEUE_DIR) : at(config.queueDir ?? "queue");
  const ms = (value: string | undefined, fallback: number) => (value === undefined ? fallback : parseDuration(value)!);
  const defaults = config.defaults ?? {};
  return {
    file,
    dir,
    queueDir,
    workdir: config.workdir ? at(config.workdir) : cwd,
    defaults: {
      engine: defaults.engine ?? "claude",
      timeoutMs: ms(defaults.timeout, 4 * 3600_000),
      stallMs: defaults.stall === undefined ? undefined : parseDuration(defaults.stall),
      maxAttempts: defaults.maxAttempts ?? 3,
      yolo: defaults.yolo ?? false,
    },
    engines: config.engines ?? {},
    concurrency: config.concurrency ?? 1,
    retry: { backoffMs: ms(config.retry?.backoff, 10_000), maxBackoffMs: ms(config.retry?.maxBackoff, 15 * 60_000) },
    killGraceMs: ms(config.killGrace, 10_000),
    drainTimeoutMs: config.drainTimeout === undefined ? undefined : parseDuration(config.drainTimeout),
    pollIntervalMs: ms(config.pollInterval, 1_000),
    worktrees: {
      dir: config.worktrees?.dir ? at(config.worktrees.dir) : resolve(queueDir, ".worktrees"),
      setup: config.worktrees?.setup,
    },
    gitQueue: config.gitQueue ?? "auto",
    gitQueueRef: config.gitQueueRef,
    plugins: config.plugins ?? [],
  };
}
