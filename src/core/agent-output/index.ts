import { claudeParser } from "./claude.ts";
import { codexParser } from "./codex.ts";
import type { OutputFormat } from "./formats.ts";
import { geminiParser } from "./gemini.ts";
import type { AgentInfo, AgentParser, Rendered } from "./types.ts";

export { OUTPUT_FORMATS, type OutputFormat } from "./formats.ts";
export type { AgentInfo, Rendered } from "./types.ts";

const PARSERS: Record<Exclude<OutputFormat, "text">, () => AgentParser> = {
  "claude-stream-json": claudeParser,
  "codex-json": codexParser,
  "gemini-stream-json": geminiParser,
};

/**
 * An engine's stdout, read as it comes: what goes into the human-readable log, what the agent
 * said (for `AQ_BLOCKED:`), and what it reported about its session. A line that is not JSON
 * (a warning, a plain-text engine) is logged and read as said.
 */
export class AgentStream {
  readonly info: AgentInfo;
  readonly structured: boolean;
  readonly #parser: AgentParser | undefined;

  constructor(engine: string, format: OutputFormat = "text") {
    this.info = { name: engine };
    this.#parser = format === "text" ? undefined : PARSERS[format]();
    this.structured = this.#parser !== undefined;
  }

  /** Any output at all, stdout or stderr: the agent is alive. */
  active(at = new Date()): void {
    this.info.lastActivityAt = at.toISOString();
  }

  line(raw: string): Rendered {
    this.active();
    if (this.#parser && raw.startsWith("{")) {
      let event: unknown;
      try {
        event = JSON.parse(raw);
      } catch {
        event = undefined;
      }
      if (event && typeof event === "object" && !Array.isArray(event))
        return this.#parser.line(event as Record<string, unknown>, this.info);
    }
    return { log: [raw], said: [raw] };
  }

  end(): Rendered {
    return this.#parser?.end(this.info) ?? { log: [], said: [] };
  }

  /** A copy for the job's meta, without undefined keys. */
  snapshot(): AgentInfo {
    return Object.fromEntries(
      Object.entries(this.info).filter(([, value]) => value !== undefined),
    ) as unknown as AgentInfo;
  }
}
