import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The agent CLIs the engine tests run, pinned (test/engines/agents.json). */
export interface AgentCli {
  readonly package: string;
  readonly version: string;
  readonly bin: string;
}

export const AGENT_CLIS: Readonly<Record<"claude" | "codex" | "gemini", AgentCli>> = JSON.parse(
  readFileSync(join(import.meta.dirname, "agents.json"), "utf8"),
);

/**
 * Where they are installed: a cache outside node_modules (together they are close to 1 GB, so
 * `npm ci` never fetches them), one folder per set of pinned versions.
 */
export function agentCliDir(): string {
  const cache =
    process.env.AQ_AGENT_CLI_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "aq", "agent-clis");
  const pins = Object.values(AGENT_CLIS)
    .map((cli) => `${cli.package}@${cli.version}`)
    .sort()
    .join(" ");
  return join(cache, createHash("sha256").update(pins).digest("hex").slice(0, 12));
}

export function agentCliBin(name: keyof typeof AGENT_CLIS): string {
  return join(agentCliDir(), "node_modules", ".bin", AGENT_CLIS[name].bin);
}
