import type { IncomingMessage } from "node:http";
import { HttpProblem, isLoopback } from "../core/http-server.ts";

export interface CoordinatorGuard {
  /** Bound to loopback: a request must name a loopback Host (no DNS rebinding). */
  readonly loopback: boolean;
}

/**
 * Who the coordinator answers. No browser page has any business here: a request naming another
 * Host (a rebound name), carrying a foreign Origin, or with a body that is not declared JSON (a
 * no-cors `text/plain` POST) is refused before it is routed; the bearer token (the operator's or
 * an enrolled factory's) is checked next, by auth.ts.
 */
export function guardRequest(request: IncomingMessage, guard: CoordinatorGuard): void {
  const host = request.headers.host ?? "";
  if (guard.loopback && !isLoopback(hostOf(host)))
    throw new HttpProblem(403, "this coordinator answers only to a loopback Host");
  const origin = request.headers.origin;
  if (origin !== undefined && originHost(origin) !== host.toLowerCase())
    throw new HttpProblem(403, "requests from web pages are not allowed");
  if (carriesBody(request) && mediaType(request.headers["content-type"]) !== "application/json") {
    throw new HttpProblem(415, "a request body must be sent as content-type: application/json");
  }
}

/** Every method but GET and HEAD may carry a body, declared or chunked. */
function carriesBody(request: IncomingMessage): boolean {
  return request.method !== "GET" && request.method !== "HEAD";
}

function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0]!.trim().toLowerCase();
}

function originHost(origin: string): string | undefined {
  try {
    return origin === "null" ? undefined : new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}

function hostOf(header: string): string {
  if (header.startsWith("[")) return header.slice(0, header.indexOf("]") + 1);
  return header.split(":")[0]!;
}

/** A malformed escape in the path (`%E0%A4%A`) is the client's mistake: 400, not 500. */
export function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpProblem(400, "bad id in the path: not a valid percent-encoding");
  }
}
