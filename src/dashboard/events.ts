import type { ServerResponse } from "node:http";

/**
 * The server-sent event streams of the open pages: `change` when the queue changed (the page
 * reloads what it shows), `job` when a running job's log or meta changed, and a comment every
 * 15 s so that proxies and browsers keep the stream open.
 */
export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly keepAlive: NodeJS.Timeout;
  readonly max: number;

  constructor(options: { max?: number; keepAliveMs?: number } = {}) {
    this.max = options.max ?? 100;
    this.keepAlive = setInterval(() => this.write(": keep-alive\n\n"), options.keepAliveMs ?? 15_000);
    this.keepAlive.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Starts an event stream on `response`; false when too many are open. */
  open(response: ServerResponse, hello: Record<string, unknown>): boolean {
    if (this.clients.size >= this.max) return false;
    response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    response.write(`retry: 2000\n${frame("hello", hello)}`);
    this.clients.add(response);
    response.once("close", () => this.clients.delete(response));
    return true;
  }

  send(event: string, data: Record<string, unknown>): void {
    this.write(frame(event, data));
  }

  close(): void {
    clearInterval(this.keepAlive);
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  private write(text: string): void {
    for (const client of this.clients) client.write(text);
  }
}

function frame(event: string, data: Record<string, unknown>): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
