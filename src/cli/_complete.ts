import type { ArgsDef } from "citty";
import { STAGE_NAMES } from "../core/stages.ts";
import type { UsageSource } from "./_usage.ts";

export const SHELLS = ["bash", "zsh", "fish"] as const;

/**
 * The scripts ask `aq __complete WORD...` (the words after `aq`, the last one being completed) for
 * candidates, one a line: commands (a config's plugin commands too), a command's options, job ids.
 * An empty answer lets the shell complete file names.
 */
export function completionScript(shell: (typeof SHELLS)[number]): string {
  if (shell === "bash") {
    return [
      '# aq completion for bash: eval "$(aq completion bash)"',
      "_aq_complete() {",
      "  local IFS=$'\\n'",
      '  COMPREPLY=($(compgen -W "$(aq __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}"))',
      "}",
      "complete -o default -F _aq_complete aq",
    ].join("\n");
  }
  if (shell === "zsh") {
    return [
      "#compdef aq",
      "# aq completion for zsh: source <(aq completion zsh)",
      "_aq() {",
      "  local -a candidates",
      '  candidates=("${(@f)$(aq __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")',
      '  if (( ${#candidates[@]} )) && [[ -n "${candidates[1]}" ]]; then compadd -- "${candidates[@]}"; else _files; fi',
      "}",
      "compdef _aq aq",
    ].join("\n");
  }
  return [
    "# aq completion for fish: aq completion fish > ~/.config/fish/completions/aq.fish",
    "function __aq_complete",
    "    set -l words (commandline -opc) (commandline -ct)",
    "    aq __complete $words[2..-1] 2>/dev/null",
    "end",
    "complete -c aq -a '(__aq_complete)'",
  ].join("\n");
}

interface Completer {
  readonly commands: readonly string[];
  load(name: string, rest: readonly string[]): Promise<{ usage: UsageSource }>;
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `aq __complete WORD...`: the candidates for the last word. Never fails: a completion that cannot help says nothing. */
export async function complete(words: readonly string[], completer: Completer): Promise<number> {
  try {
    const candidates = await candidatesFor(words, completer);
    const current = words.at(-1) ?? "";
    const matching = candidates.filter((word) => word.startsWith(current));
    if (matching.length) process.stdout.write(`${matching.join("\n")}\n`);
  } catch {
    // no config, a broken plugin: nothing to offer
  }
  return 0;
}

async function candidatesFor(words: readonly string[], completer: Completer): Promise<string[]> {
  if (words.length <= 1) {
    const extra = await pluginCommandNames().catch(() => []);
    return [...completer.commands, ...extra, "help", "--help", "--version"];
  }
  const name = words[0] === "help" ? undefined : words[0]!;
  if (name === undefined) return [...completer.commands];
  const { usage } = await completer.load(name, words.slice(1));
  const args = usage.args as ArgsDef;
  const current = words.at(-1)!;
  const previous = words.at(-2)!;
  const flags = Object.entries(args).filter(([, def]) => def.type !== "positional");
  if (current.startsWith("-")) return [...flags.map(([key]) => `--${kebab(key)}`), "--help"];
  const previousFlag = flags.find(([key]) => previous === `--${kebab(key)}`);
  if (previousFlag && previousFlag[1].type === "string") return [];
  if (name === "completion") return [...SHELLS];
  if ("id" in args && args.id?.type === "positional") return jobIds(words);
  return [];
}

async function pluginCommandNames(): Promise<string[]> {
  const { prepareAq } = await import("../app.ts");
  const prepared = await prepareAq({ by: "cli:complete" });
  return [...prepared.commands.keys()];
}

/** Job ids in the queue the command would use, read without creating anything. */
async function jobIds(words: readonly string[]): Promise<string[]> {
  const { createAq } = await import("../app.ts");
  const at = words.indexOf("--config");
  const aq = await createAq({
    configFile: at >= 0 ? words[at + 1] : undefined,
    by: "cli:complete",
    plugins: false,
    readOnly: true,
  });
  const ids = STAGE_NAMES.map((stage) => aq.store.ids(stage));
  return ids.flat().sort();
}
