import { createRequire } from "node:module";
import { type ArgsDef, type CommandDef, parseArgs } from "citty";
import type { PreparedAq } from "../app.ts";
import { auditWritesSettled } from "../core/audit-writes.ts";
import { AqError, oneLine } from "../core/errors.ts";
import { checkJobId } from "../core/job-id.ts";
import type { PluginCommand } from "../plugin/define.ts";
import { commonArgs } from "./_shared.ts";
import { didYouMean } from "../core/suggest.ts";
import { renderCommandUsage, summary, type UsageSource } from "./_usage.ts";

// biome-ignore lint/suspicious/noExplicitAny: each command has its own argument types
type Loader = () => Promise<{ default: CommandDef<any> }>;

/** The built-in commands, each in its own file, imported only when it runs (start-up stays small); each file holds its one description. */
export const COMMANDS: Record<string, { load: Loader }> = {
  add: { load: () => import("./commands/add.ts") },
  run: { load: () => import("./commands/run.ts") },
  status: { load: () => import("./commands/status.ts") },
  logs: { load: () => import("./commands/logs.ts") },
  promote: { load: () => import("./commands/promote.ts") },
  ship: { load: () => import("./commands/ship.ts") },
  retry: { load: () => import("./commands/retry.ts") },
  block: { load: () => import("./commands/block.ts") },
  clean: { load: () => import("./commands/clean.ts") },
  drain: { load: () => import("./commands/drain.ts") },
  dashboard: { load: () => import("./commands/dashboard.ts") },
  coordinator: { load: () => import("./commands/coordinator.ts") },
  demo: { load: () => import("./commands/demo.ts") },
  completion: { load: () => import("./commands/completion.ts") },
};

/** Commands that built-in plugins add, so that a typo or an `aq help` finds them with the plugin off. */
const PLUGIN_COMMAND_HINTS: Record<string, string> = {
  "fleet-status": "the fleet plugin adds it; turn fleet mode on with AQ_FLEET=1",
  fleet: "the fleet plugin adds it; turn fleet mode on with AQ_FLEET=1 (or AQ_FLEET=shadow)",
};

export function version(): string {
  return (createRequire(import.meta.url)("../../../package.json") as { version: string }).version;
}

async function topUsage(): Promise<string> {
  const rows = await Promise.all(
    Object.entries(COMMANDS).map(async ([name, { load }]) => [name, summary(describe(await load(), name))] as const),
  );
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    `aq ${version()} — a queue runner for AI coding agents`,
    "",
    "USAGE",
    "  aq <command> [options]",
    "",
    "COMMANDS",
    ...rows.map(([name, text]) => `  ${name.padEnd(width)}  ${text}`),
    "",
    "Plugins may add commands (the fleet plugin adds fleet-status); aq --help --config FILE lists those of a config.",
    "aq help <command>, or aq <command> --help, explains a command's options. aq --version prints the version.",
    "Exit codes: 0 ok, 1 the operation failed, 2 bad usage or input.",
  ].join("\n");
}

function describe(module: { default: CommandDef<ArgsDef> }, name: string): string {
  const meta = module.default.meta as { description?: string } | undefined;
  return meta?.description ?? name;
}

/** The one place that turns errors into a line and an exit code; nothing below it exits. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (error) {
    return report(error);
  } finally {
    // The audit log's commits are written in batches: the last ones before the process ends.
    await auditWritesSettled();
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  // `aq --config FILE CMD ...` is `aq CMD ... --config FILE`.
  if (argv[0] === "--config" && argv.length > 2) return dispatch([...argv.slice(2), ...argv.slice(0, 2)]);
  if (argv[0]?.startsWith("--config=") && argv.length > 1) return dispatch([...argv.slice(1), argv[0]]);
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stdout.write(`${await topUsage()}\n`);
    return 2;
  }
  if (first === "--version" || first === "-v") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    const target = rest.find((arg, i) => !arg.startsWith("-") && rest[i - 1] !== "--config");
    if (target === undefined) {
      process.stdout.write(`${await topUsage()}${await pluginListing(rest)}\n`);
      return 0;
    }
    return runCommand(target, [...rest.filter((arg) => arg !== target), "--help"]);
  }
  if (first === "__complete")
    return (await import("./_complete.ts")).complete(rest, { commands: Object.keys(COMMANDS), load: loadCommand });
  if (first.startsWith("-"))
    throw new AqError(
      "AQ_BAD_USAGE",
      `unknown option ${first.split("=")[0]}${didYouMean(first.replace(/^-+/, ""), ["help", "version"], (name) => `--${name}`)} (see aq --help)`,
    );
  return runCommand(first, rest);
}

/** A built-in or a plugin's command, by name: `--help`, unknown flags, ids and parsing go the same way for both. */
async function runCommand(name: string, rest: readonly string[]): Promise<number> {
  const found = await loadCommand(name, rest);
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${renderCommandUsage(found.usage)}\n`);
    return 0;
  }
  const args = parseCommandArgs(name, rest, found.usage.args as ArgsDef);
  if (found.prepared && found.plugin?.readOnly) await found.prepared.open({ readOnly: true });
  const result = await found.run(args);
  return typeof result === "number" ? result : 0;
}

interface FoundCommand {
  readonly usage: UsageSource;
  readonly run: (args: Record<string, unknown>) => Promise<unknown>;
  readonly prepared?: PreparedAq;
  readonly plugin?: PluginCommand;
}

async function loadCommand(name: string, rest: readonly string[]): Promise<FoundCommand> {
  const entry = COMMANDS[name];
  if (entry) {
    const command = (await entry.load()).default;
    return {
      usage: { name, description: describe({ default: command }, name), args: (command.args ?? {}) as ArgsDef },
      run: async (args) => command.run?.({ rawArgs: rest as string[], args: args as never, cmd: command }),
    };
  }
  let prepared: PreparedAq;
  try {
    prepared = await preparePlugins(name, rest);
  } catch (error) {
    // A typo of a built-in is reported as such even where the config cannot load.
    const hint = didYouMean(name, Object.keys(COMMANDS));
    if (hint) throw new AqError("AQ_BAD_USAGE", `unknown command "${name}"${hint} (see aq --help)`);
    throw error;
  }
  const command = prepared.commands.get(name);
  if (!command) {
    const known = [...Object.keys(COMMANDS), ...prepared.commands.keys(), ...Object.keys(PLUGIN_COMMAND_HINTS)];
    const why = PLUGIN_COMMAND_HINTS[name] ? `; ${PLUGIN_COMMAND_HINTS[name]}` : didYouMean(name, known);
    throw new AqError("AQ_BAD_USAGE", `unknown command "${name}"${why} (see aq --help)`);
  }
  return {
    usage: {
      name,
      description: command.description,
      args: { ...(command.args ?? {}), ...commonArgs },
      from: `${command.plugin} plugin`,
    },
    run: async (args) => command.run(args),
    prepared,
    plugin: command,
  };
}

/** Loads the config and its plugins for a command that is not built in; `--config` may stand anywhere. */
async function preparePlugins(name: string, rest: readonly string[]): Promise<PreparedAq> {
  const { prepareAq } = await import("../app.ts");
  return prepareAq({ configFile: configFlag(rest), by: `cli:${name}` });
}

function configFlag(rest: readonly string[]): string | undefined {
  for (const [i, arg] of rest.entries()) {
    if (arg === "--") break;
    if (arg === "--config") return rest[i + 1];
    if (arg.startsWith("--config=")) return arg.slice("--config=".length);
  }
  return undefined;
}

/** `aq --help` in a project whose config adds commands lists them too. */
async function pluginListing(rest: readonly string[]): Promise<string> {
  if (configFlag(rest) === undefined) return "";
  const prepared = await preparePlugins("help", rest);
  const rows = [...prepared.commands].map(
    ([name, command]) => `  ${name}  ${summary(command.description)} (plugin ${command.plugin})`,
  );
  return rows.length ? `\n\nPLUGIN COMMANDS\n${rows.join("\n")}` : "";
}

function parseCommandArgs(name: string, rest: readonly string[], argsDef: ArgsDef): Record<string, unknown> {
  rejectUnknownFlags(name, rest, argsDef);
  let args: Record<string, unknown>;
  try {
    args = parseArgs(rest as string[], argsDef);
  } catch (error) {
    throw new AqError("AQ_BAD_USAGE", `aq ${name}: ${stripColor(oneLine(error))} (see aq ${name} --help)`);
  }
  const positionals = Object.entries(argsDef).filter(([, arg]) => arg.type === "positional");
  const extra = (args._ as string[]).length - positionals.length;
  if (extra > 0)
    throw new AqError(
      "AQ_BAD_USAGE",
      `aq ${name}: unexpected argument ${JSON.stringify((args._ as string[]).at(-1))} (see aq ${name} --help)`,
    );
  // A job id names a directory and a branch: checked here for every command that takes one, before any file is touched.
  if (positionals.some(([key]) => key === "id") && typeof args.id === "string") args.id = checkJobId(args.id);
  return args;
}

function knownFlags(argsDef: ArgsDef): Set<string> {
  const known = new Set<string>(["help", "h"]);
  for (const [key, def] of Object.entries(argsDef)) {
    if (def.type === "positional") continue;
    known.add(key);
    known.add(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    for (const alias of [(def as { alias?: string | string[] }).alias ?? []].flat()) known.add(alias);
  }
  return known;
}

function rejectUnknownFlags(name: string, rest: readonly string[], argsDef: ArgsDef): void {
  const known = knownFlags(argsDef);
  for (const arg of rest) {
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-" || /^-\d/.test(arg)) continue;
    const flag = arg.replace(/^--?/, "").split("=")[0]!.replace(/^no-/, "");
    if (!known.has(flag)) {
      const hint = didYouMean(
        flag,
        [...known].filter((word) => word.length > 1),
        (word) => `--${word}`,
      );
      throw new AqError(
        "AQ_BAD_USAGE",
        `aq ${name}: unknown option ${arg.split("=")[0]}${hint} (see aq ${name} --help)`,
      );
    }
  }
}

function report(error: unknown): number {
  if (error instanceof AqError) {
    process.stderr.write(`${error.message.startsWith("aq ") ? "" : "aq: "}${error.message}\n`);
    return error.exitCode;
  }
  process.stderr.write(`aq: internal error: ${oneLine(error)}\n`);
  if (process.env.AQ_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ""}\n`);
  return 1;
}

function stripColor(text: string): string {
  return text.replace(/\u001B\[[0-9;]*m/g, "");
}
