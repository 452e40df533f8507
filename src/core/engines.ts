import type { EngineConfig } from "../config/schema.ts";
import { AqError } from "./errors.ts";

export interface EngineDef extends EngineConfig {
  readonly prompt: "stdin" | "arg" | "file";
}

/**
 * The built-in engines: each agent CLI's usual non-interactive invocation. `{yolo}` marks where
 * the skip-permissions flags go; `{prompt}` and `{promptFile}` where the prompt goes. Config
 * entries of the same name replace these.
 */
export const BUILTIN_ENGINES: Readonly<Record<string, EngineDef>> = {
  claude: { command: ["claude", "-p", "{yolo}"], prompt: "stdin", yolo: ["--dangerously-skip-permissions"] },
  codex: { command: ["codex", "exec", "{yolo}", "-"], prompt: "stdin", yolo: ["--dangerously-bypass-approvals-and-sandbox"] },
  gemini: { command: ["gemini", "{yolo}", "--prompt", "{prompt}"], prompt: "arg", yolo: ["--yolo"] },
  devin: { command: ["devin", "{yolo}", "-p", "{prompt}"], prompt: "arg", yolo: ["--yolo"] },
  shell: { command: ["sh", "{promptFile}"], prompt: "file", yolo: [] },
};

export function engineTable(configured: Readonly<Record<string, EngineConfig>>): Record<string, EngineDef> {
  const table: Record<string, EngineDef> = { ...BUILTIN_ENGINES };
  for (const [name, engine] of Object.entries(configured)) table[name] = { ...engine, prompt: engine.prompt ?? "stdin" };
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
export function invocation(engine: EngineDef, prompt: string, options: { yolo: boolean; promptFile: string }): Invocation {
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
  return { file, args, stdin: engine.prompt === "stdin" ? prompt : undefined, env: engine.env ?? {} };
}

/** Secrets of aq's own that an engine never sees. */
export const WITHHELD_ENV = ["AQ_FLEET_TOKEN", "AQ_TRACKER_TOKEN", "AQ_DASHBOARD_TOKEN"];

export function engineEnv(base: NodeJS.ProcessEnv, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of WITHHELD_ENV) delete env[name];
  return { ...env, ...extra };
}
