import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type AnthropicRequest, anthropic } from "./model-apis/anthropic.ts";
import { type RecordedRequest, type Script, sendJson } from "./model-apis/common.ts";
import { type GeminiRequest, gemini } from "./model-apis/gemini.ts";
import { type OpenAiRequest, openai } from "./model-apis/openai.ts";

export type { RecordedRequest } from "./model-apis/common.ts";

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
export interface ModelServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests that carried the script (the agent's own turns, not a CLI's side calls). */
  agentTurns(api: RecordedRequest["api"]): RecordedRequest[];
  close(): Promise<void>;
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
    req.on(
      "error",
      (error) =>
        process.env.AQ_MODEL_SERVER_DEBUG && process.stderr.write(`model-server: request error ${String(error)}\n`),
    );
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(error) } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (process.env.AQ_MODEL_SERVER_DEBUG)
      process.stderr.write(`model-server: ${req.method} ${req.url} ${JSON.stringify(req.headers)}\n`);
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
