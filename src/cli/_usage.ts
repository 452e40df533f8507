import type { ArgsDef } from "citty";

interface ArgLike {
  readonly type?: string;
  readonly description?: string;
  readonly valueHint?: string;
  readonly required?: boolean;
  readonly default?: unknown;
  readonly alias?: string | readonly string[];
}

/** A command as the help renders it: built-ins (citty definitions) and plugin commands alike. */
export interface UsageSource {
  readonly name: string;
  readonly description: string;
  readonly args: ArgsDef | Readonly<Record<string, ArgLike>>;
  /** "plugin fleet", for a command a plugin added. */
  readonly from?: string;
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** `aq <name> --help`: a usage line that starts with aq, the arguments, the options, the exit codes. */
export function renderCommandUsage(source: UsageSource): string {
  const entries = Object.entries(source.args as Record<string, ArgLike>);
  const positionals = entries.filter(([, def]) => def.type === "positional");
  const options = entries.filter(([, def]) => def.type !== "positional");
  const usage = [
    `aq ${source.name}`,
    ...positionals.map(([name, def]) =>
      def.required === false ? `[${name.toUpperCase()}]` : `<${name.toUpperCase()}>`,
    ),
    ...options
      .filter(([, def]) => def.required === true)
      .map(([name, def]) => `--${kebab(name)} <${def.valueHint ?? name}>`),
    "[options]",
  ].join(" ");
  const optionRows = options.map(([name, def]) => {
    const aliases = [def.alias ?? []].flat().map((alias) => (alias.length === 1 ? `-${alias}` : `--${alias}`));
    const flag =
      [...aliases, `--${kebab(name)}`].join(", ") + (def.type === "string" ? ` <${def.valueHint ?? "value"}>` : "");
    const extra = def.default !== undefined && def.type === "string" ? ` (default: ${String(def.default)})` : "";
    return [flag, `${def.description ?? ""}${extra}`] as const;
  });
  optionRows.push(["-h, --help", "Show this help"]);
  const lines = [source.description, "", "USAGE", `  ${usage}`];
  if (positionals.length)
    lines.push(
      "",
      "ARGUMENTS",
      ...table(positionals.map(([name, def]) => [name.toUpperCase(), def.description ?? ""])),
    );
  lines.push("", "OPTIONS", ...table(optionRows));
  if (source.from) lines.push("", `Added by the ${source.from}.`);
  lines.push("", "Exit codes: 0 ok, 1 the operation failed, 2 bad usage or input.");
  return lines.join("\n");
}

function table(rows: ReadonlyArray<readonly [string, string]>): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`.trimEnd());
}

/** The first sentence of a description: what `aq --help` lists beside the command's name. */
export function summary(description: string): string {
  const end = description.search(/\.(\s|$)/);
  return end < 0 ? description : description.slice(0, end);
}
