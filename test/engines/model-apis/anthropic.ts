// The Anthropic Messages API, as Claude Code uses it (streaming SSE, tool_use blocks).
import type { IncomingMessage, ServerResponse } from "node:http";
import { decide, nextId, type RecordedRequest, type Script, sendJson, startSse } from "./common.ts";

export interface AnthropicRequest {
  model?: string;
  stream?: boolean;
  tools?: Array<{ name: string }>;
  messages?: Array<{ role: string; content: string | Array<{ type: string }> }>;
}

export function anthropic(
  req: IncomingMessage,
  res: ServerResponse,
  record: RecordedRequest,
  body: AnthropicRequest,
  script: Script | undefined,
): void {
  if (req.url?.startsWith("/v1/messages/count_tokens")) return sendJson(res, 200, { input_tokens: 100 });
  const answeredTool = (body.messages ?? []).some(
    (m) => Array.isArray(m.content) && m.content.some((part) => part.type === "tool_result"),
  );
  const shell = (body.tools ?? []).find((tool) => tool.name === "Bash");
  const model = body.model ?? "claude-scripted";
  let content: Array<Record<string, unknown>>;
  let stop: string;
  record.shellOffered = Boolean(shell);
  record.answer = decide(script, body.tools?.length ?? 0, Boolean(shell), answeredTool);
  if (record.answer === "tool") {
    content = [
      {
        type: "tool_use",
        id: `toolu_${nextId()}`,
        name: shell!.name,
        input: { command: script!.run, description: "Run the command the job names" },
      },
    ];
    stop = "tool_use";
  } else {
    content = [{ type: "text", text: record.answer === "final" ? script!.say : "ok" }];
    stop = "end_turn";
  }
  const usage = { input_tokens: 120, output_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const id = `msg_${nextId()}`;
  if (!body.stream) {
    return sendJson(res, 200, {
      id,
      type: "message",
      role: "assistant",
      model,
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage,
    });
  }
  const send = startSse(res);
  send("message_start", {
    type: "message_start",
    message: {
      id,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: 1 },
    },
  });
  content.forEach((block, index) => {
    if (block.type === "tool_use") {
      send("content_block_start", { type: "content_block_start", index, content_block: { ...block, input: {} } });
      send("content_block_delta", {
        type: "content_block_delta",
        index,
        delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) },
      });
    } else {
      send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
      send("content_block_delta", {
        type: "content_block_delta",
        index,
        delta: { type: "text_delta", text: block.text },
      });
    }
    send("content_block_stop", { type: "content_block_stop", index });
  });
  send("message_delta", {
    type: "message_delta",
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  send("message_stop", { type: "message_stop" });
  res.end();
}
