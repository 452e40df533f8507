import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AqError } from "./errors.ts";

/** An answer other than 2xx, with the one-line reason sent as `{ error }`. */
export class HttpProblem extends Error {
  readonly status: number;
  /** For a 405: the methods the path allows. */
  readonly allow: string | undefined;
  constructor(status: number, message: string, allow?: string) {
    super(message);
    this.status = status;
    this.allow = allow;
  }
}

/** Names and addresses that stay on this host: binding to them needs no token. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127(\.\d{1,3}){3}$/.test(bare);
}

/** Listens, and answers the base URL (`http://host:port`); a port in use is one clear line. */
export async function listen(server: Server, port: number, host: string, what: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(new AqError("AQ_FAILED", `${what}: port ${port} is in use`));
      else if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND" || error.code === "EAI_AGAIN")
        reject(new AqError("AQ_BAD_USAGE", `${what}: cannot bind to ${host} (${error.code})`));
      else reject(error);
    });
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const bound = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return `http://${bound}:${address.port}`;
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * The request's body as JSON (undefined when empty); over `limit` bytes is a 413. A body not
 * declared `application/json` is a 415 whatever it holds: a web page's no-cors `text/plain` POST is
 * never parsed.
 */
export async function readJson(request: IncomingMessage, limit = 1024 * 1024): Promise<unknown> {
  const declared = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpProblem(413, `body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return undefined;
  if (declared !== "application/json")
    throw new HttpProblem(415, "a request body must be sent as content-type: application/json");
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpProblem(400, "body is not JSON");
  }
}

export function send(
  response: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (body === undefined) {
    response.writeHead(status, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  response
    .writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
    .end(text);
}
