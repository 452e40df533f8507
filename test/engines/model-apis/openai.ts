// The OpenAI Responses API, as Codex uses it (SSE events, function and custom tool calls).
import type { ServerResponse } from "node:http";
import { decide, nextId, type RecordedRequest, type Script, sendJson, startSse } from "./common.ts";

interface OpenAiTool {
  type: string;
  name?: string;
  parameters?: { properties?: Record<string, { type?: string }> };
  tools?: OpenAiTool[];
}

export interface OpenAiRequest {
  model?: string;
  stream?: boolean;
  tools?: OpenAiTool[];
  input?: Array<{ type?: string; role?: string; tools?: OpenAiTool[] }>;
}

/** Codex's shell tools across versions: a JavaScript `exec` cell calling `tools.exec_command` (code mode), or a plain function. */
const CODEX_SHELL_TOOLS = ["exec", "shell", "shell_command", "exec_command", "local_shell"];

/** The tools a request offers: in `tools`, or (newer Codex) in an `additional_tools` input item, nested in namespaces. */
function offeredTools(body: OpenAiRequest): OpenAiTool[] {
  const flat = (tools: OpenAiTool[]): OpenAiTool[] =>
    tools.flatMap((tool) => (tool.type === "namespace" ? flat(tool.tools ?? []) : [tool]));
  return flat([
    ...(body.tools ?? []),
    ...(body.input ?? []).flatMap((item) => (item.type === "additional_tools" ? (item.tools ?? []) : [])),
  ]);
}

export function openai(
  res: ServerResponse,
  record: RecordedRequest,
  body: OpenAiRequest,
  script: Script | undefined,
): void {
  const answeredTool = (body.input ?? []).some(
    (item) => typeof item.type === "string" && item.type.endsWith("_call_output"),
  );
  const tools = offeredTools(body);
  const shell = CODEX_SHELL_TOOLS.map((name) => tools.find((tool) => (tool.name ?? tool.type) === name)).find(Boolean);
  const id = `resp_${nextId()}`;
  let item: Record<string, unknown>;
  record.shellOffered = Boolean(shell);
  record.answer = decide(script, tools.length, Boolean(shell), answeredTool);
  if (record.answer === "tool") {
    item = shellCall(shell!, script!.run!);
  } else {
    item = {
      type: "message",
      id: `msg_${nextId()}`,
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text: record.answer === "final" ? script!.say : "ok", annotations: [] }],
    };
  }
  const usage = {
    input_tokens: 200,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: 40,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 240,
  };
  const response = {
    id,
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    model: body.model ?? "gpt-scripted",
    status: "completed",
    output: [item],
    usage,
  };
  if (body.stream === false) return sendJson(res, 200, response);
  const send = startSse(res);
  send("response.created", { type: "response.created", response: { ...response, status: "in_progress", output: [] } });
  send("response.output_item.added", { type: "response.output_item.added", output_index: 0, item });
  if (item.type === "message") {
    const text = (item.content as Array<{ text: string }>)[0]!.text;
    send("response.output_text.delta", {
      type: "response.output_text.delta",
      item_id: item.id,
      output_index: 0,
      content_index: 0,
      delta: text,
    });
  }
  send("response.output_item.done", { type: "response.output_item.done", output_index: 0, item });
  send("response.completed", { type: "response.completed", response });
  res.end();
}

function shellCall(tool: OpenAiTool, command: string): Record<string, unknown> {
  const callId = `call_${nextId()}`;
  if (tool.type === "custom" && tool.name === "exec") {
    const source = `const r = await tools.exec_command({ cmd: ${JSON.stringify(command)}, login: false });\ntext(r.output ?? "");`;
    return {
      type: "custom_tool_call",
      id: `ctc_${callId}`,
      call_id: callId,
      name: "exec",
      input: source,
      status: "completed",
    };
  }
  if (tool.type === "local_shell") {
    return {
      type: "local_shell_call",
      id: `lsh_${callId}`,
      call_id: callId,
      status: "completed",
      action: { type: "exec", command: ["bash", "-lc", command], env: {} },
    };
  }
  const properties = tool.parameters?.properties ?? {};
  const args = properties.cmd
    ? { cmd: command }
    : properties.command?.type === "array"
      ? { command: ["bash", "-lc", command] }
      : { command };
  return {
    type: "function_call",
    id: `fc_${callId}`,
    call_id: callId,
    name: tool.name,
    arguments: JSON.stringify(args),
    status: "completed",
  };
}
