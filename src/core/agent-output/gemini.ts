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

/** Gemini CLI's `--output-format stream-json`: init, messages (assistant text in deltas), tool use and results, one result. */
export function geminiParser(): AgentParser {
  let text = "";
  const flush = (): Rendered => {
    if (!text) return nothing();
    const out = said(text);
    text = "";
    return out;
  };
  const joined = (first: Rendered, second: Rendered): Rendered => ({
    log: [...first.log, ...second.log],
    said: [...first.said, ...second.said],
  });
  return {
    line(event, info): Rendered {
      if (event.type === "message" && event.role === "assistant") {
        text += str(event.content) ?? "";
        if (event.delta !== true) return flush();
        return nothing();
      }
      return joined(flush(), other(event, info));
    },
    end: flush,
  };
}

function other(event: Record<string, unknown>, info: AgentInfo): Rendered {
  switch (event.type) {
    case "init":
      info.sessionId = str(event.session_id) ?? info.sessionId;
      info.model = str(event.model) ?? info.model;
      return { log: [`[gemini] session ${info.sessionId ?? "?"}, model ${info.model ?? "?"}`], said: [] };
    case "tool_use":
      info.toolCalls = (info.toolCalls ?? 0) + 1;
      return { log: [describeTool(str(event.tool_name) ?? "tool", obj(event.parameters))], said: [] };
    case "tool_result":
      return {
        log: [
          ...(event.status === "success"
            ? []
            : [`  (tool ${str(event.status) ?? "failed"}: ${str(obj(event.error).message) ?? ""})`]),
          ...excerpt(event.output),
        ],
        said: [],
      };
    case "error":
      return { log: [`[gemini] ${str(event.severity) ?? "error"}: ${str(event.message) ?? ""}`], said: [] };
    case "result": {
      const stats = obj(event.stats);
      info.inputTokens = num(stats.input_tokens) ?? info.inputTokens;
      info.outputTokens = num(stats.output_tokens) ?? info.outputTokens;
      info.toolCalls = num(stats.tool_calls) ?? info.toolCalls;
      const models = Object.keys(obj(stats.models));
      if (models.length === 1) info.model = models[0];
      const outcome =
        event.status === "success"
          ? "done"
          : `error: ${str(obj(event.error).message) ?? str(event.status) ?? "unknown"}`;
      return {
        log: [`[gemini] ${outcome}: ${info.inputTokens ?? "?"} tokens in, ${info.outputTokens ?? "?"} out`],
        said: [],
      };
    }
    default:
      return nothing();
  }
}
