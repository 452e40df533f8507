import { type AgentInfo, type AgentParser, excerpt, nothing, num, obj, type Rendered, said, str } from "./types.ts";

/** The item types that are a tool call of the agent's (a command, a patch, an MCP tool, a web search). */
const TOOL_ITEMS = new Set(["command_execution", "file_change", "mcp_tool_call", "web_search"]);

/** Codex's `exec --json`: thread, turn and item events (agent messages, command executions, file changes). */
export function codexParser(): AgentParser {
  const tools = new Set<string>();
  // An item counts once, whether Codex announces it (item.started) or only reports it done.
  const countTool = (item: Record<string, unknown>, info: AgentInfo): boolean => {
    const id = str(item.id) ?? `#${tools.size}`;
    if (!TOOL_ITEMS.has(String(item.type)) || tools.has(id)) return false;
    tools.add(id);
    info.toolCalls = tools.size;
    return true;
  };
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
          countTool(item, info);
          return item.type === "command_execution" ? { log: [`$ ${str(item.command) ?? "?"}`], said: [] } : nothing();
        }
        case "item.completed": {
          const item = obj(event.item);
          const unannounced = countTool(item, info);
          const done = completed(item);
          return unannounced && item.type === "command_execution"
            ? { log: [`$ ${str(item.command) ?? "?"}`, ...done.log], said: done.said }
            : done;
        }
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
      return {
        log: changes.map((change) => `  ${str(change.kind) ?? "changed"} ${str(change.path) ?? "?"}`),
        said: [],
      };
    }
    case "mcp_tool_call":
      return {
        log: [`→ ${str(item.server) ?? "mcp"}.${str(item.tool) ?? "?"}${item.status === "failed" ? " (failed)" : ""}`],
        said: [],
      };
    case "error":
      return { log: [`[codex] error: ${str(item.message) ?? "unknown"}`], said: [] };
    default:
      return nothing();
  }
}
