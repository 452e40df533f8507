import type { EngineConfig } from "./config.ts";
import type { OutputFormat } from "./agent-output/formats.ts";
import { AqError } from "./errors.ts";

export interface EngineDef extends EngineConfig {
  readonly prompt: "stdin" | "arg" | "file";
  readonly output: OutputFormat;
}

/**
 * The built-in engines: each agent CLI's non-interactive invocation, verified against the real
 * CLIs by `npm run test:engines` (versions in the README). `{yolo}` marks where the
 * skip-permissions flags go. The prompt goes on stdin wherever the CLI reads it there: an
 * argument would show it to every user of the host in `ps`. Config entries of the same name
 * replace these.
 */
export const BUILTIN_ENGINES: Readonly<Record<string, EngineDef>> = {
  claude: {
    command: ["claude", "-p", "--output-format", "stream-json", "--verbose", "{yolo}"],
    prompt: "stdin",
    output: "claude-stream-json",
    yolo: ["--dangerously-skip-permissions"],
    // Claude Code refuses its skip-permissions flag as root unless it is told it runs in a sandbox.
    yoloEnv: { IS_SANDBOX: "1" },
  },
  codex: {
    // Outside a git repository (a job whose cwd is not in one) codex exec refuses to start without the check skipped.
    command: ["codex", "exec", "--json", "--skip-git-repo-check", "{yolo}", "-"],
    prompt: "stdin",
    output: "codex-json",
    yolo: ["--dangerously-bypass-approvals-and-sandbox"],
  },
  gemini: {
    // A job's worktree is a new folder, never trusted: headless, Gemini CLI refuses to start in one without --skip-trust.
    command: ["gemini", "--skip-trust", "--output-format", "stream-json", "{yolo}"],
    prompt: "stdin",
    output: "gemini-stream-json",
    yolo: ["--yolo"],
  },
  devin: { command: ["devin", "{yolo}", "-p", "{prompt}"], prompt: "arg", output: "text", yolo: ["--yolo"] },
  shell: { command: ["sh", "{promptFile}"], prompt: "file", output: "text", yolo: [] },
};

export function engineTable(configured: Readonly<Record<string, EngineConfig>>): Record<string, EngineDef> {
  const table: Record<string, EngineDef> = { ...BUILTIN_ENGINES };
  for (const [name, engine] of Object.entries(configured))
    table[name] = { ...engine, prompt: engine.prompt ?? "stdin", output: engine.output ?? "text" };
  return table;
}

export interface Invocation {
  readonly file: string;
  readonly args: string[];
  /** What to write on the engine's stdin; undefined leaves stdin closed (no CLI waits on it). */
  readonly stdin: string | undefined;
  readonly env: Readonly<Record<string, string>>;
}

/** Builds the argv for one run: placeholders filled, yolo flags in place or left out. */
export function invocation(
  engine: EngineDef,
  prompt: string,
  options: { yolo: boolean; promptFile: string },
): Invocation {
  const yolo = options.yolo ? (engine.yolo ?? []) : [];
  const argv: string[] = [];
  let placedYolo = false;
  let placedPrompt = false;
  for (const part of engine.command) {
    if (part === "{yolo}") {
      argv.push(...yolo);
      placedYolo = true;
    } else if (part.includes("{prompt}") || part.includes("{promptFile}")) {
      argv.push(part.replaceAll("{promptFile}", options.promptFile).replaceAll("{prompt}", prompt));
      placedPrompt = true;
    } else argv.push(part);
  }
  if (!placedYolo) argv.push(...yolo);
  if (!placedPrompt && engine.prompt === "arg") argv.push(prompt);
  if (!placedPrompt && engine.prompt === "file") argv.push(options.promptFile);
  const [file, ...args] = argv;
  if (!file) throw new AqError("AQ_BAD_CONFIG", "engine command is empty");
  return {
    file,
    args,
    stdin: engine.prompt === "stdin" ? prompt : undefined,
    env: { ...engine.env, ...(options.yolo ? engine.yoloEnv : {}) },
  };
}

/** Secrets of aq's own that an engine never sees (the coordinator's, the dashboard's). */
export const WITHHELD_ENV = ["AQ_COORDINATOR_TOKEN", "AQ_DASHBOARD_TOKEN"];

/**
 * Any `AQ_…_TOKEN`, `_SECRET`, `_PASSWORD` or `_KEY` is withheld too, whether or not the plugin
 * that reads it is loaded (the fleet's token when the switch is off, an enrollment token): an
 * agent's own keys (ANTHROPIC_API_KEY …) carry no AQ_ prefix and pass.
 */
const SECRET_NAME = /^AQ_\w*(?:TOKEN|SECRET|PASSWORD|KEY)$/i;

/** Names plugins declared secret (`secretEnv`, `aq.withholdEnv`), for every engine of this process. */
const declared = new Set<string>();

export function withholdEnv(names: Iterable<string>): void {
  for (const name of names) if (name !== "") declared.add(name);
}

export function isWithheld(name: string): boolean {
  return WITHHELD_ENV.includes(name) || SECRET_NAME.test(name) || declared.has(name);
}

/** The environment of an engine, `worktrees.setup` or a job's test: the base without a secret, plus `extra`. */
export function engineEnv(base: NodeJS.ProcessEnv, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) if (!isWithheld(name)) env[name] = value;
  return Object.assign(env, extra);
}
