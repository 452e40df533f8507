import type { AgentInfo } from "../meta.ts";

export type { AgentInfo };

/** What one line of an agent's structured output means for aq. */
export interface Rendered {
  /** Lines for the human-readable log.txt. */
  readonly log: string[];
  /** The agent's own words, line by line: where `AQ_BLOCKED:` markers are looked for. */
  readonly said: string[];
}

/** A parser of one CLI's structured stdout (JSON lines), fed line by line. */
export interface AgentParser {
  line(event: Record<string, unknown>, info: AgentInfo): Rendered;
  /** Flushes what a parser held back (text split over delta events). */
  end(info: AgentInfo): Rendered;
}

export const nothing = (): Rendered => ({ log: [], said: [] });

export function said(text: string, prefix = ""): Rendered {
  const lines = text.split("\n");
  return { log: lines.map((line) => `${prefix}${line}`), said: lines };
}

/** A tool's output in the log: its first lines, so the log stays readable. */
export function excerpt(output: unknown, maxLines = 20): string[] {
  const text =
    typeof output === "string" ? output : output === undefined || output === null ? "" : JSON.stringify(output);
  const lines = text
    .replace(/\n+$/, "")
    .split("\n")
    .filter((line, _i, all) => line !== "" || all.length > 1);
  if (lines.length <= maxLines) return lines.map((line) => `  ${line}`);
  return [...lines.slice(0, maxLines).map((line) => `  ${line}`), `  … ${lines.length - maxLines} more line(s)`];
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function obj(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function describeTool(name: string, input: Record<string, unknown>): string {
  const command =
    str(input.command) ?? str(input.cmd) ?? (Array.isArray(input.command) ? input.command.join(" ") : undefined);
  if (command) return `$ ${command}`;
  const json = JSON.stringify(input);
  return `→ ${name} ${json.length > 200 ? `${json.slice(0, 200)}…` : json}`;
}
