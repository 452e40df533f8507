import {
  type AgentInfo,
  type AgentParser,
  describeTool,
  excerpt,
  nothing,
  num,
  obj,
  type Rendered,
  said,
  str,
} from "./types.ts";

/** Claude Code's `--output-format stream-json --verbose`: system init, assistant and user messages, one result. */
export function claudeParser(): AgentParser {
  const messages = new Set<string>();
  return {
    line(event, info): Rendered {
      const sessionId = str(event.session_id);
      if (sessionId) info.sessionId = sessionId;
      switch (event.type) {
        case "system": {
          if (event.subtype !== "init") return nothing();
          info.model = str(event.model) ?? info.model;
          return { log: [`[claude] session ${sessionId ?? "?"}, model ${info.model ?? "?"}`], said: [] };
        }
        case "assistant": {
          const message = obj(event.message);
          // A subagent's (Task tool) messages: logged, indented, but neither its words nor its model are the agent's.
          if (str(event.parent_tool_use_id)) return renderMessage(message, info, "  | ");
          const id = str(message.id);
          if (id && !messages.has(id)) {
            messages.add(id);
            info.turns = messages.size;
          }
          info.model = str(message.model) ?? info.model;
          return renderMessage(message, info);
        }
        case "user": {
          const content = obj(event.message).content;
          const log: string[] = [];
          for (const block of Array.isArray(content) ? content.map(obj) : []) {
            if (block.type !== "tool_result") continue;
            const parts = Array.isArray(block.content)
              ? block.content.map((part) => str(obj(part).text) ?? "").join("\n")
              : block.content;
            log.push(...(block.is_error === true ? ["  (tool error)"] : []), ...excerpt(parts));
          }
          return { log, said: [] };
        }
        case "result": {
          const usage = obj(event.usage);
          info.turns = num(event.num_turns) ?? info.turns;
          info.costUsd = num(event.total_cost_usd) ?? info.costUsd;
          const input = num(usage.input_tokens);
          if (input !== undefined)
            info.inputTokens =
              input + (num(usage.cache_read_input_tokens) ?? 0) + (num(usage.cache_creation_input_tokens) ?? 0);
          info.outputTokens = num(usage.output_tokens) ?? info.outputTokens;
          const outcome =
            event.is_error === true ? `error: ${str(event.result) ?? str(event.subtype) ?? "unknown"}` : "done";
          return {
            log: [
              `[claude] ${outcome}: ${info.turns ?? "?"} turn(s), ${info.inputTokens ?? "?"} tokens in, ${info.outputTokens ?? "?"} out${info.costUsd === undefined ? "" : `, $${info.costUsd.toFixed(4)}`}`,
            ],
            said: [],
          };
        }
        default:
          return nothing();
      }
    },
    end: nothing,
  };
}

/** An assistant message's text and tool calls; a subagent's (with a log prefix) reach the log only. */
function renderMessage(message: Record<string, unknown>, info: AgentInfo, subagentPrefix?: string): Rendered {
  const prefix = subagentPrefix ?? "";
  const out: Rendered = { log: [], said: [] };
  for (const block of Array.isArray(message.content) ? message.content.map(obj) : []) {
    if (block.type === "text" && str(block.text)) {
      const text = said(str(block.text)!, prefix);
      out.log.push(...text.log);
      if (subagentPrefix === undefined) out.said.push(...text.said);
    } else if (block.type === "tool_use") {
      if (subagentPrefix === undefined) info.toolCalls = (info.toolCalls ?? 0) + 1;
      out.log.push(`${prefix}${describeTool(str(block.name) ?? "tool", obj(block.input))}`);
    }
  }
  return out;
}
