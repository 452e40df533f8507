import { type ArgsDef, type CommandDef, parseArgs, renderUsage } from "citty";
import { AqError, oneLine } from "../core/errors.ts";
import { createRequire } from "node:module";

// biome-ignore lint: each command has its own argument types
type Loader = () => Promise<{ default: CommandDef<any> }>;

/** The commands, each in its own file, imported only when it runs (start-up stays small). */
export const COMMANDS: Record<string, { description: string; load: Loader }> = {
  add: { description: "Validate a job file (or stdin) and put it in the queue", load: () => import("./commands/add.ts") },
  run: { description: "Work through the queue: --once, --drain, or until SIGINT/SIGTERM", load: () => import("./commands/run.ts") },
  status: { description: "Counts per stage and the jobs (or one job's detail)", load: () => import("./commands/status.ts") },
  promote: { description: "review → testing: run the job's test command in its worktree", load: () => import("./commands/promote.ts") },
  ship: { description: "testing → shipped: merge the job's branch into its base branch", load: () => import("./commands/ship.ts") },
  retry: { description: "Requeue a failed, blocked, dead-letter or quarantined job", load: () => import("./commands/retry.ts") },
  block: { description: "Park a job in blocked/ with a reason", load: () => import("./commands/block.ts") },
  dashboard: { description: "Serve a live web page of this queue (and the fleet when on) on loopback; prints its URL", load: () => import("./commands/dashboard.ts") },
  coordinator: { description: "Run the fleet coordinator (SQLite, or PostgreSQL for several processes); migrate, enroll, revoke", load: () => import("./commands/coordinator.ts") },
  demo: { description: "Run the two-factory fleet demo end to end on loopback (--offline: the one-host demo)", load: () => import("./commands/demo.ts") },
  drain: { description: "Ask the runners on this queue to stop claiming, finish their jobs and exit; wait for them", load: () => import("./commands/drain.ts") },
  clean: { description: "Remove worktrees of finished jobs; keep any with unmerged or uncommitted work", load: () => import("./commands/clean.ts") },
};

function version(): string {
  return (createRequire(import.meta.url)("../../../package.json") as { version: string }).version;
}

function topUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return [
    `aq ${version()} — a queue runner for AI coding agents`,
    "",
    "USAGE  aq <command> [options]",
    "",
    "COMMANDS",
    ...Object.entries(COMMANDS).map(([name, { description }]) => `  ${name.padEnd(width)}  ${description}`),
    "",
    "Plugins may add commands (the fleet plugin adds fleet-status).",
    "Use aq <command> --help for a command's options. Exit codes: 0 ok, 1 failed, 2 bad usage or input.",
  ].join("\n");
}

/** The one place that turns errors into a line and an exit code; nothing below it exits. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(`${topUsage()}\n`);
      return name === undefined ? 2 : 0;
    }
    if (name === "--version" || name === "-v") {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    const entry = COMMANDS[name];
    if (!entry) return await runPluginCommand(name, rest);
    const command = (await entry.load()).default;
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(`${stripColor(await renderUsage(command))}\n`);
      return 0;
    }
    const argsDef = (command.args ?? {}) as ArgsDef;
    rejectUnknownFlags(name, rest, argsDef);
    let args: Record<string, unknown>;
    try {
      args = parseArgs(rest, argsDef);
    } catch (error) {
      throw new AqError("AQ_BAD_USAGE", `aq ${name}: ${stripColor(oneLine(error))} (see aq ${name} --help)`);
    }
    const extra = (args._ as string[]).length - Object.values(argsDef).filter((arg) => arg.type === "positional").length;
    if (extra > 0) throw new AqError("AQ_BAD_USAGE", `aq ${name}: unexpected argument ${JSON.stringify((args._ as string[]).at(-1))} (see aq ${name} --help)`);
    const result = await command.run?.({ rawArgs: rest as string[], args: args as never, cmd: command });
    return typeof result === "number" ? result : 0;
  } catch (error) {
    return report(error);
  }
}

async function runPluginCommand(name: string, rest: readonly string[]): Promise<number> {
  if (name.startsWith("-")) throw new AqError("AQ_BAD_USAGE", `unknown option ${name} (see aq --help)`);
  const { prepareAq } = await import("../app.ts");
  const configAt = rest.indexOf("--config");
  const aq = await prepareAq({ configFile: configAt >= 0 ? rest[configAt + 1] : undefined, by: `cli:${name}` });
  const command = aq.commands.get(name);
  if (!command) throw new AqError("AQ_BAD_USAGE", `unknown command "${name}" (see aq --help)`);
  const args = parseArgs(rest as string[], (command.args ?? {}) as ArgsDef);
  return (await command.run(args)) ?? 0;
}

function rejectUnknownFlags(name: string, rest: readonly string[], argsDef: ArgsDef): void {
  const known = new Set<string>();
  for (const [key, def] of Object.entries(argsDef)) {
    known.add(key);
    known.add(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    for (const alias of [(def as { alias?: string | string[] }).alias ?? []].flat()) known.add(alias);
  }
  for (const arg of rest) {
    if (arg === "--") break;
    if (!arg.startsWith("-") || arg === "-") continue;
    const flag = arg.replace(/^--?/, "").split("=")[0]!.replace(/^no-/, "");
    if (!known.has(flag)) throw new AqError("AQ_BAD_USAGE", `aq ${name}: unknown option ${arg.split("=")[0]} (see aq ${name} --help)`);
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
