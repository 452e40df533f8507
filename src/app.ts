import { loadConfig, type ResolvedConfig } from "./config/load.ts";
import { AqError, joinedLines } from "./core/errors.ts";
import { engineTable, type EngineDef, withholdEnv } from "./core/engines.ts";
import { type RunnerHooks, createRunnerHooks } from "./core/hooks.ts";
import { Lifecycle } from "./core/lifecycle.ts";
import { withLock } from "./core/locks.ts";
import { createLogger, type Logger } from "./core/logger.ts";
import { materialize } from "./core/materialize.ts";
import { QueueStore } from "./core/queue-store.ts";
import type { PluginApi, PluginCommand } from "./plugin/define.ts";
import { applyPlugins, choosePlugins, importPlugins } from "./plugin/load.ts";

/** Everything a command works with, assembled once: config, logger, hooks, queue, plugins. */
export interface Aq {
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  readonly hooks: RunnerHooks;
  readonly store: QueueStore;
  readonly lifecycle: Lifecycle;
  readonly engines: Readonly<Record<string, EngineDef>>;
  readonly plugins: readonly string[];
  readonly commands: ReadonlyMap<string, PluginCommand & { plugin: string }>;
  /** Who acts, for history entries: `cli:<command>` or a runner id. */
  readonly by: string;
}

export interface CreateAqOptions {
  readonly cwd?: string;
  readonly configFile?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
  readonly by?: string;
  /** Commands that never touch plugins (a plain read) may skip them. */
  readonly plugins?: boolean;
}

/**
 * Config, logger, hooks and plugins, with the queue not yet opened (nothing created on disk). The
 * first `open()` decides: `{ readOnly: true }` reads the queue as it is and creates nothing.
 */
export type PreparedAq = Omit<Aq, "store" | "lifecycle"> & {
  open(mode?: { readOnly?: boolean }): Promise<{ store: QueueStore; lifecycle: Lifecycle }>;
};

export async function createAq(options: CreateAqOptions & { readOnly?: boolean } = {}): Promise<Aq> {
  const { open, ...prepared } = await prepareAq(options);
  return { ...prepared, ...(await open({ readOnly: options.readOnly ?? false })) };
}

export async function prepareAq(options: CreateAqOptions = {}): Promise<PreparedAq> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger();
  const config = await loadConfig({
    ...(options.cwd ? { cwd: options.cwd } : {}),
    file: options.configFile,
    env,
  }).catch(unreadableConfig);
  const choices = options.plugins === false ? [] : choosePlugins(config.plugins, env, config.file);
  const loaded = await importPlugins(choices, config);
  for (const { plugin } of loaded)
    if (Array.isArray(plugin.secretEnv)) withholdEnv(plugin.secretEnv.filter((name) => typeof name === "string"));
  const originOwners = new Map<string, string>();
  for (const { plugin } of loaded)
    for (const kind of Array.isArray(plugin.origins) ? plugin.origins : [])
      if (!originOwners.has(kind)) originOwners.set(kind, plugin.name);
  const hooks = createRunnerHooks((error) => logger.withTag(error.plugin).error(error.message));
  // Opened on first use, so that `aq typo` creates no queue; every command that works opens it.
  let opening: Promise<{ store: QueueStore; lifecycle: Lifecycle }> | undefined;
  const open = (mode: { readOnly?: boolean } = {}) =>
    (opening ??= QueueStore.open(config.queueDir, {
      gitQueue: config.gitQueue,
      gitRef: config.gitQueueRef,
      readOnly: mode.readOnly ?? false,
      warn: (line) => logger.warn(line),
    }).then((store) => ({ store, lifecycle: new Lifecycle(store, hooks, logger) })));
  const by = options.by ?? "cli";
  const commands = new Map<string, PluginCommand & { plugin: string }>();
  const engines = engineTable(config.engines);
  const makeApi = (name: string): PluginApi => ({
    hooks,
    logger: logger.withTag(name),
    config,
    env,
    engines,
    queue: {
      root: config.queueDir,
      get: async (id) => (await open()).store.get(id),
      list: async (stages) => (await open()).store.list(stages),
      enqueue: async (input) => {
        const { store, lifecycle } = await open();
        const record = await materialize(store, input, { stage: "queued", by: `plugin:${name}` });
        await lifecycle.created(record, `plugin:${name}`);
        return record;
      },
      updateMeta: async (id, patch) => {
        const { store } = await open();
        return store.update(id, undefined, (meta) => ({ ...meta, ...patch(meta) }));
      },
      exclusive: async (key, fn) => {
        const { store } = await open();
        return withLock(store.lockPath(`plugin.${name}.${key.replace(/[^A-Za-z0-9._-]/g, "_")}`), fn, `plugin:${name}`);
      },
    },
    registerCommand: (command, definition) => {
      if (commands.has(command))
        throw new Error(`command "${command}" is already registered by ${commands.get(command)!.plugin}`);
      commands.set(command, { ...definition, plugin: name });
    },
    withholdEnv: (...names) => withholdEnv(names),
    originOwner: (kind) => originOwners.get(kind),
    extendStatus: (extend) => hooks.status.tapPromise(name, async (status) => extend(status)),
  });
  await applyPlugins(loaded, makeApi, config.file);
  return {
    config,
    logger,
    hooks,
    open,
    engines,
    plugins: loaded.map((item) => item.plugin.name),
    commands,
    by,
  };
}

/**
 * A config that throws while it is read (a getter, a package.json in the working directory that is
 * not JSON) is bad input like any other: one line, exit 2, not an internal error.
 */
function unreadableConfig(error: unknown): never {
  if (error instanceof AqError) throw error;
  throw new AqError("AQ_BAD_CONFIG", `the config cannot be read: ${joinedLines(error)}`);
}
