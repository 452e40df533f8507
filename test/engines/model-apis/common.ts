import type { ServerResponse } from "node:http";

/** One request the scripted model server received, and what it answered. */
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

/** What the prompt asks of the model (see model-server.ts). */
export interface Script {
  readonly run?: string;
  readonly say: string;
  readonly hang: boolean;
  readonly refuse: boolean;
}

/**
 * What to answer: a side call of the CLI's own (no tools offered: titles, routing) gets a plain
 * answer; an agent turn gets the script's tool call until its result is back, then the final text.
 */
export function decide(
  script: Script | undefined,
  toolsOffered: number,
  shell: boolean,
  answeredTool: boolean,
): "tool" | "final" | "aux" {
  if (!script || toolsOffered === 0) return "aux";
  return script.run && shell && !answeredTool ? "tool" : "final";
}

let ids = 1;

/** A fresh number for the ids of messages, tool calls and responses. */
export function nextId(): number {
  return ids++;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

export function startSse(res: ServerResponse): (event: string | undefined, data: unknown) => void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  return (event, data) => res.write(`${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`);
}
