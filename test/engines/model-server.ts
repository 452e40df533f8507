import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A scripted model API on loopback, speaking just enough of three vendors' APIs for their agent
 * CLIs to run one job: Anthropic Messages (Claude Code), OpenAI Responses (Codex) and the Gemini
 * API (Gemini CLI). The script is in the prompt:
 *
 * - `RUN: <shell command>`: the first turn answers with a call of the CLI's shell tool running it;
 *   once the tool's result comes back, the next turn answers with the final text.
 * - `SAY: <text>`: the final text (default "done").
 * - `HANG`: the answer never comes (a model server that hangs).
 * - `REFUSE`: the answer is an HTTP 400 error the CLI cannot get past.
 *
 * Every request is recorded so a test can assert what the CLI sent.
 */
export interface RecordedRequest {
  readonly api: "anthropic" | "openai" | "gemini" | "other";
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: unknown;
  /** What the server answered: a tool call, the final text, an auxiliary text, an error, nothing. */
  answer?: "tool" | "final" | "aux" | "error" | "hang" | "not-found";
  /** Whether the request offered the CLI's shell tool (a CLI without yolo may leave it out). */
  shellOffered?: boolean;
}

export interface ModelServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests that carried the script (the agent's own turns, not a CLI's side calls). */
  agentTurns(api: RecordedRequest["api"]): RecordedRequest[];
  close(): Promise<void>;
}

interface Script {
  readonly run?: string;
  readonly say: string;
  readonly hang: boolean;
  readonly refuse: boolean;
}

const SCRIPT_LINE = /^(RUN|SAY):[ \t]*(.*)$/m;

function scriptOf(text: string): Script | undefined {
  if (!SCRIPT_LINE.test(text) && !/^(HANG|REFUSE)$/m.test(text)) return undefined;
  return {
    ...(/^RUN:[ \t]*(.*)$/m.exec(text)?.[1] ? { run: /^RUN:[ \t]*(.*)$/m.exec(text)![1]!.trim() } : {}),
    say: /^SAY:[ \t]*(.*)$/m.exec(text)?.[1]?.trim() ?? "done",
    hang: /^HANG$/m.test(text),
    refuse: /^REFUSE$/m.test(text),
  };
}

export async function startModelServer(): Promise<ModelServer> {
  const requests: RecordedRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    req.on("error", (error) => process.env.AQ_MODEL_SERVER_DEBUG && process.stderr.write(`model-server: request error ${String(error)}\n`));
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(error) } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (process.env.AQ_MODEL_SERVER_DEBUG) process.stderr.write(`model-server: ${req.method} ${req.url} ${JSON.stringify(req.headers)}\n`);
    const raw = await readBody(req);
    let body: unknown = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      // kept as text
    }
    const path = req.url ?? "/";
    const api = apiOf(path);
    const record: RecordedRequest = { api, method: req.method ?? "GET", path, headers: req.headers, body };
    requests.push(record);
    const script = scriptIn(body);
    if (script?.hang) {
      record.answer = "hang";
      hanging.add(res);
      res.once("close", () => hanging.delete(res));
      return;
    }
    if (script?.refuse) {
      record.answer = "error";
      return sendJson(res, 400, errorBody(api, "the scripted model refuses this request"));
    }
    if (api === "anthropic") return anthropic(req, res, record, body as AnthropicRequest, script);
    if (api === "openai") return openai(res, record, body as OpenAiRequest, script);
    if (api === "gemini") return gemini(res, record, body as GeminiRequest, script);
    record.answer = "not-found";
    sendJson(res, 404, { error: { message: `no such route: ${path}` } });
  }

  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    agentTurns: (api) => requests.filter((r) => r.api === api && (r.answer === "tool" || r.answer === "final")),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
}

/**
 * What to answer: a side call of the CLI's own (no tools offered: titles, routing) gets a plain
 * answer; an agent turn gets the script's tool call until its result is back, then the final text.
 */
function decide(script: Script | undefined, toolsOffered: number, shell: boolean, answeredTool: boolean): "tool" | "final" | "aux" {
  if (!script || toolsOffered === 0) return "aux";
  return script.run && shell && !answeredTool ? "tool" : "final";
}

function apiOf(path: string): RecordedRequest["api"] {
  if (path.startsWith("/v1/messages")) return "anthropic";
  if (path.startsWith("/v1/responses")) return "openai";
  if (/\/models\/[^/]+:(stream)?[gG]enerateContent/.test(path) || /:countTokens/.test(path)) return "gemini";
  return "other";
}

function errorBody(api: RecordedRequest["api"], message: string): unknown {
  if (api === "anthropic") return { type: "error", error: { type: "invalid_request_error", message } };
  if (api === "gemini") return { error: { code: 400, message, status: "INVALID_ARGUMENT" } };
  return { error: { message, type: "invalid_request_error", code: "invalid_request" } };
}

/** The script of the first string in the request that holds one (the prompt, wherever the CLI put it). */
function scriptIn(value: unknown): Script | undefined {
  if (typeof value === "string") return scriptOf(value);
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = scriptIn(item);
      if (found) return found;
    }
  } else if (value && typeof value === "object") {
    for (const item of Object.values(value)) {
      const found = scriptIn(item);
      if (found) return found;
    }
  }
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function startSse(res: ServerResponse): (event: string | undefined, data: unknown) => void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  return (event, data) => res.write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`);
}

// --- Anthropic Messages -------------------------------------------------------------------------

interface AnthropicRequest {
  model?: string;
  stream?: boolean;
  tools?: Array<{ name: string }>;
  messages?: Array<{ role: string; content: string | Array<{ type: string }> }>;
}

function anthropic(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, body: AnthropicRequest, script: Script | undefined): void {
  if (req.url?.startsWith("/v1/messages/count_tokens")) return sendJson(res, 200, { input_tokens: 100 });
  const answeredTool = (body.messages ?? []).some((m) => Array.isArray(m.content) && m.content.some((part) => part.type === "tool_result"));
  const shell = (body.tools ?? []).find((tool) => tool.name === "Bash");
  const model = body.model ?? "claude-scripted";
  let content: Array<Record<string, unknown>>;
  let stop: string;
  record.shellOffered = Boolean(shell);
  record.answer = decide(script, body.tools?.length ?? 0, Boolean(shell), answeredTool);
  if (record.answer === "tool") {
    content = [{ type: "tool_use", id: `toolu_${requestsSeen++}`, name: shell!.name, input: { command: script!.run, description: "Run the command the job names" } }];
    stop = "tool_use";
  } else {
    content = [{ type: "text", text: record.answer === "final" ? script!.say : "ok" }];
    stop = "end_turn";
  }
  const usage = { input_tokens: 120, output_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const id = `msg_${requestsSeen++}`;
  if (!body.stream) {
    return sendJson(res, 200, { id, type: "message", role: "assistant", model, content, stop_reason: stop, stop_sequence: null, usage });
  }
  const send = startSse(res);
  send("message_start", { type: "message_start", message: { id, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  content.forEach((block, index) => {
    if (block.type === "tool_use") {
      send("content_block_start", { type: "content_block_start", index, content_block: { ...block, input: {} } });
      send("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) } });
    } else {
      send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
      send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: block.text } });
    }
    send("content_block_stop", { type: "content_block_stop", index });
  });
  send("message_delta", { type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  send("message_stop", { type: "message_stop" });
  res.end();
}

let requestsSeen = 1;

// --- OpenAI Responses ---------------------------------------------------------------------------

interface OpenAiTool {
  type: string;
  name?: string;
  parameters?: { properties?: Record<string, { type?: string }> };
  tools?: OpenAiTool[];
}

interface OpenAiRequest {
  model?: string;
  stream?: boolean;
  tools?: OpenAiTool[];
  input?: Array<{ type?: string; role?: string; tools?: OpenAiTool[] }>;
}

/** Codex's shell tools across versions: a JavaScript `exec` cell calling `tools.exec_command` (code mode), or a plain function. */
const CODEX_SHELL_TOOLS = ["exec", "shell", "shell_command", "exec_command", "local_shell"];

/** The tools a request offers: in `tools`, or (newer Codex) in an `additional_tools` input item, nested in namespaces. */
function offeredTools(body: OpenAiRequest): OpenAiTool[] {
  const flat = (tools: OpenAiTool[]): OpenAiTool[] => tools.flatMap((tool) => (tool.type === "namespace" ? flat(tool.tools ?? []) : [tool]));
  return flat([...(body.tools ?? []), ...(body.input ?? []).flatMap((item) => (item.type === "additional_tools" ? (item.tools ?? []) : []))]);
}

function openai(res: ServerResponse, record: RecordedRequest, body: OpenAiRequest, script: Script | undefined): void {
  const answeredTool = (body.input ?? []).some((item) => typeof item.type === "string" && item.type.endsWith("_call_output"));
  const tools = offeredTools(body);
  const shell = CODEX_SHELL_TOOLS.map((name) => tools.find((tool) => (tool.name ?? tool.type) === name)).find(Boolean);
  const id = `resp_${requestsSeen++}`;
  let item: Record<string, unknown>;
  record.shellOffered = Boolean(shell);
  record.answer = decide(script, tools.length, Boolean(shell), answeredTool);
  if (record.answer === "tool") {
    item = shellCall(shell!, script!.run!);
  } else {
    item = { type: "message", id: `msg_${requestsSeen++}`, role: "assistant", status: "completed", content: [{ type: "output_text", text: record.answer === "final" ? script!.say : "ok", annotations: [] }] };
  }
  const usage = { input_tokens: 200, input_tokens_details: { cached_tokens: 0 }, output_tokens: 40, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 240 };
  const response = { id, object: "response", created_at: Math.floor(Date.now() / 1000), model: body.model ?? "gpt-scripted", status: "completed", output: [item], usage };
  if (body.stream === false) return sendJson(res, 200, response);
  const send = startSse(res);
  send("response.created", { type: "response.created", response: { ...response, status: "in_progress", output: [] } });
  send("response.output_item.added", { type: "response.output_item.added", output_index: 0, item });
  if (item.type === "message") {
    const text = (item.content as Array<{ text: string }>)[0]!.text;
    send("response.output_text.delta", { type: "response.output_text.delta", item_id: item.id, output_index: 0, content_index: 0, delta: text });
  }
  send("response.output_item.done", { type: "response.output_item.done", output_index: 0, item });
  send("response.completed", { type: "response.completed", response });
  res.end();
}

function shellCall(tool: OpenAiTool, command: string): Record<string, unknown> {
  const callId = `call_${requestsSeen++}`;
  if (tool.type === "custom" && tool.name === "exec") {
    const source = `const r = await tools.exec_command({ cmd: ${JSON.stringify(command)}, login: false });\ntext(r.output ?? "");`;
    return { type: "custom_tool_call", id: `ctc_${callId}`, call_id: callId, name: "exec", input: source, status: "completed" };
  }
  if (tool.type === "local_shell") {
    return { type: "local_shell_call", id: `lsh_${callId}`, call_id: callId, status: "completed", action: { type: "exec", command: ["bash", "-lc", command], env: {} } };
  }
  const properties = tool.parameters?.properties ?? {};
  const args = properties.cmd ? { cmd: command } : properties.command?.type === "array" ? { command: ["bash", "-lc", command] } : { command };
  return { type: "function_call", id: `fc_${callId}`, call_id: callId, name: tool.name, arguments: JSON.stringify(args), status: "completed" };
}

// --- Gemini API ---------------------------------------------------------------------------------

interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
}

interface GeminiRequest {
  contents?: Array<{ role?: string; parts?: Array<Record<string, unknown>> }>;
  tools?: Array<{ functionDeclarations?: Array<{ name: string }> }>;
  generationConfig?: { responseMimeType?: string; responseJsonSchema?: JsonSchema; responseSchema?: JsonSchema };
}

/** A value of the schema's shape, for a CLI's side call that wants JSON (Gemini CLI's model router). */
function valueOf(schema: JsonSchema | undefined): unknown {
  if (schema?.enum?.length) return schema.enum[0];
  switch (schema?.type?.toLowerCase()) {
    case "object":
      return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([key, value]) => [key, valueOf(value)]));
    case "array":
      return [];
    case "integer":
    case "number":
      return 1;
    case "boolean":
      return false;
    default:
      return "scripted";
  }
}

function gemini(res: ServerResponse, record: RecordedRequest, body: GeminiRequest, script: Script | undefined): void {
  const path = record.path;
  if (path.includes(":countTokens")) return sendJson(res, 200, { totalTokens: 100 });
  const answeredTool = (body.contents ?? []).some((c) => (c.parts ?? []).some((part) => "functionResponse" in part));
  const functions = (body.tools ?? []).flatMap((t) => t.functionDeclarations ?? []);
  const shell = functions.find((f) => f.name === "run_shell_command");
  let parts: Array<Record<string, unknown>>;
  record.shellOffered = Boolean(shell);
  record.answer = decide(script, functions.length, Boolean(shell), answeredTool);
  if (record.answer === "tool") {
    parts = [{ functionCall: { name: shell!.name, args: { command: script!.run, description: "Run the command the job names" } } }];
  } else if (record.answer === "final") {
    parts = [{ text: script!.say }];
  } else {
    const wantsJson = body.generationConfig?.responseMimeType === "application/json";
    parts = [{ text: wantsJson ? JSON.stringify(valueOf(body.generationConfig?.responseJsonSchema ?? body.generationConfig?.responseSchema)) : "ok" }];
  }
  const chunk = {
    candidates: [{ content: { role: "model", parts }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 300, candidatesTokenCount: 50, totalTokenCount: 350 },
    modelVersion: "gemini-scripted",
  };
  if (!path.includes(":streamGenerateContent")) return sendJson(res, 200, chunk);
  const send = startSse(res);
  send(undefined, chunk);
  res.end();
}
