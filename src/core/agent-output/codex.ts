import { type AgentParser, excerpt, nothing, num, obj, type Rendered, said, str } from "./types.ts";

/** Codex's `exec --json`: thread, turn and item events (agent messages, command executions, file changes). */
export function codexParser(): AgentParser {
  return {
    line(event, info): Rendered {
      switch (event.type) {
        case "thread.started":
          info.sessionId = str(event.thread_id) ?? info.sessionId;
          return { log: [`[codex] session ${info.sessionId ?? "?"}`], said: [] };
        case "turn.completed": {
          const usage = obj(event.usage);
          info.turns = (info.turns ?? 0) + 1;
          info.inputTokens = (info.inputTokens ?? 0) + (num(usage.input_tokens) ?? 0);
          info.outputTokens = (info.outputTokens ?? 0) + (num(usage.output_tokens) ?? 0);
          return { log: [`[codex] turn done: ${info.inputTokens} tokens in, ${info.outputTokens} out`], said: [] };
        }
        case "turn.failed":
          return { log: [`[codex] turn failed: ${str(obj(event.error).message) ?? "unknown error"}`], said: [] };
        case "error":
          return { log: [`[codex] error: ${str(event.message) ?? "unknown"}`], said: [] };
        case "item.started": {
          const item = obj(event.item);
          if (item.type !== "command_execution") return nothing();
          info.toolCalls = (info.toolCalls ?? 0) + 1;
          return { log: [`$ ${str(item.command) ?? "?"}`], said: [] };
        }
        case "item.completed":
          return completed(obj(event.item));
        default:
          return nothing();
      }
    },
    end: nothing,
  };
}

function completed(item: Record<string, unknown>): Rendered {
  switch (item.type) {
    case "agent_message":
      return said(str(item.text) ?? "");
    case "command_execution":
      return { log: [...excerpt(item.aggregated_output), `  (exit ${num(item.exit_code) ?? "?"})`], said: [] };
    case "file_change": {
      const changes = Array.isArray(item.changes) ? item.changes.map(obj) : [];
      return { log: changes.map((change) => `  ${str(change.kind) ?? "changed"} ${str(change.path) ?? "?"}`), said: [] };
    }
    case "error":
      return { log: [`[codex] error: ${str(item.message) ?? "unknown"}`], said: [] };
    default:
      return nothing();
  }
}
