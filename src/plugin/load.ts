import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { ResolvedConfig } from "../config/load.ts";
import type { PluginEntry } from "../config/schema.ts";
import { AqError, oneLine } from "../core/errors.ts";
import { BUILTIN_PLUGINS } from "../../plugins/builtin.ts";
import type { AqPlugin, OptionsSchema, PluginApi, PluginSwitch } from "./define.ts";

type PluginModule = Record<string, unknown>;

export interface PluginChoice {
  readonly specifier: string;
  readonly options: Record<string, unknown>;
  readonly builtin: boolean;
}

/**
 * Which plugins a command loads: the built-ins unless turned off (one with a switch only when
 * that is on), then the listed ones, in config order.
 */
export function choosePlugins(
  entries: readonly PluginEntry[],
  env: NodeJS.ProcessEnv,
  file = "config",
  available: readonly string[] = BUILTIN_PLUGINS.map((plugin) => plugin.name),
): PluginChoice[] {
  const listed = entries.map((entry) =>
    typeof entry === "string"
      ? { specifier: entry, options: {} as Record<string, unknown> | false }
      : { specifier: entry[0], options: entry[1] },
  );
  const builtinNames = new Set(BUILTIN_PLUGINS.map((plugin) => plugin.name));
  const chosen: PluginChoice[] = [];
  for (const builtin of BUILTIN_PLUGINS) {
    const entry = listed.find((item) => item.specifier === builtin.name);
    const options = entry?.options || {};
    const on = builtin.switch ? switchedOn(builtin.switch, env, entry?.options) : entry?.options !== false;
    // A built-in that is on by default but absent from this build is skipped; one asked for is not.
    if (on && (entry || builtin.switch || available.includes(builtin.name)))
      chosen.push({ specifier: builtin.name, options, builtin: true });
  }
  for (const entry of listed) {
    if (builtinNames.has(entry.specifier) || entry.options === false) continue;
    if (chosen.some((choice) => choice.specifier === entry.specifier))
      throw new AqError("AQ_BAD_CONFIG", `${file}: plugins: ${entry.specifier} is listed twice`);
    chosen.push({ specifier: entry.specifier, options: entry.options, builtin: false });
  }
  return chosen;
}

/** A switch's env, when set, wins; else the option in the config entry turns the plugin on. */
function switchedOn(
  declared: PluginSwitch,
  env: NodeJS.ProcessEnv,
  options: Record<string, unknown> | false | undefined,
): boolean {
  const value = env[declared.env];
  if (value === undefined || value === "") return options !== false && options?.[declared.option] === true;
  if (value === "0") return false;
  if (declared.on.includes(value)) return true;
  throw new AqError(
    "AQ_BAD_CONFIG",
    `${declared.env} must be 0 or ${declared.on[0] ?? 1}, not ${JSON.stringify(value)}`,
  );
}

export interface LoadedPlugin {
  readonly plugin: AqPlugin<unknown>;
  readonly options: unknown;
}

/** Imports the chosen plugins, checks their shape, options and dependencies, in config order. */
export async function importPlugins(choices: readonly PluginChoice[], config: ResolvedConfig): Promise<LoadedPlugin[]> {
  const file = config.file ?? "config";
  const loaded: LoadedPlugin[] = [];
  for (const choice of choices) {
    const where = `${file}: plugin ${JSON.stringify(choice.specifier)}`;
    const module = await importPlugin(choice, config.dir, where);
    const plugin = (module.default ?? module) as Partial<AqPlugin<unknown>>;
    if (typeof plugin?.name !== "string" || typeof plugin.apply !== "function") {
      throw new AqError(
        "AQ_BAD_PLUGIN",
        `${where}: exports no plugin (its default export must be definePlugin({ name, apply }))`,
      );
    }
    const options = plugin.options ? await checkOptions(plugin.options, choice.options, where) : choice.options;
    loaded.push({ plugin: plugin as AqPlugin<unknown>, options });
  }
  const names = new Set(loaded.map((item) => item.plugin.name));
  for (const { plugin } of loaded) {
    const missing = (plugin.dependencies ?? []).filter((name) => !names.has(name));
    if (missing.length)
      throw new AqError(
        "AQ_BAD_PLUGIN",
        `${file}: plugin "${plugin.name}" needs ${missing.map((m) => `"${m}"`).join(", ")}, which is not loaded`,
      );
  }
  return loaded;
}

/**
 * Imports a plugin, telling apart the ways that fails: nothing at that path or by that name; found,
 * but a module it imports is missing (named); found, but it throws while loading.
 */
async function importPlugin(choice: PluginChoice, dir: string, where: string): Promise<PluginModule> {
  const spec = choice.specifier;
  const byPath = spec.startsWith(".") || isAbsolute(spec);
  const path = byPath ? resolve(dir, spec) : undefined;
  if (path !== undefined && !existsSync(path))
    throw new AqError("AQ_BAD_PLUGIN", `${where}: not found: no file ${path}`);
  try {
    if (choice.builtin) {
      const builtin = BUILTIN_PLUGINS.find((plugin) => plugin.name === spec);
      if (!builtin) throw new AqError("AQ_BAD_PLUGIN", `${where}: this build of aq does not include it`);
      return await builtin.load();
    }
    // The loader and its TypeScript hooks load only for a plugin named by path or package.
    const { importModule, importPackageFrom } = await import("../config/ts-loader.ts");
    return path !== undefined ? await importModule(path) : await importPackageFrom(spec, dir);
  } catch (error) {
    if (error instanceof AqError) throw error;
    const missing = missingModule(error);
    if (missing !== undefined && path === undefined && (missing === spec || spec.startsWith(`${missing}/`))) {
      throw new AqError(
        "AQ_BAD_PLUGIN",
        `${where}: not found: no package ${JSON.stringify(spec)} installed where ${dir} can import it (npm install ${spec})`,
      );
    }
    if (missing !== undefined) {
      const hint = missing === "valibot" ? '; a plugin can import { v } from "agent-queue" instead' : "";
      throw new AqError(
        "AQ_BAD_PLUGIN",
        `${where}: found, but its import of ${JSON.stringify(missing)} failed: cannot be found${hint}`,
      );
    }
    throw new AqError("AQ_BAD_PLUGIN", `${where}: found, but it failed while loading: ${oneLine(error)}`);
  }
}

/** The module a failed import could not find, from Node's ERR_MODULE_NOT_FOUND ("Cannot find package 'x' imported from ..."). */
function missingModule(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return undefined;
  const match = /Cannot find (?:package|module) '([^']+)'/.exec(String((error as Error).message));
  return match?.[1] ?? "a module";
}

/** Options through the plugin's schema (any Standard Schema), the first problem as `options.key: message`. */
async function checkOptions(schema: OptionsSchema, input: unknown, where: string): Promise<unknown> {
  if (typeof schema?.["~standard"]?.validate !== "function")
    throw new AqError(
      "AQ_BAD_PLUGIN",
      `${where}: its options must be a schema (valibot's v.object({...}), or another Standard Schema)`,
    );
  const result = await schema["~standard"].validate(input);
  if (!result.issues) return result.value;
  const issue = result.issues[0];
  const key = (issue?.path ?? []).map((part) => String(typeof part === "object" ? part.key : part)).join(".");
  throw new AqError("AQ_BAD_PLUGIN", `${where}: options${key ? `.${key}` : ""}: ${issue?.message ?? "are not valid"}`);
}

/** Runs each plugin's apply() with its own tagged logger, in order. */
export async function applyPlugins(
  loaded: readonly LoadedPlugin[],
  makeApi: (name: string) => PluginApi,
  file = "config",
): Promise<void> {
  for (const { plugin, options } of loaded) {
    try {
      await plugin.apply(makeApi(plugin.name), options);
    } catch (error) {
      throw new AqError("AQ_BAD_PLUGIN", `${file}: plugin "${plugin.name}" failed to start: ${oneLine(error)}`);
    }
  }
}
