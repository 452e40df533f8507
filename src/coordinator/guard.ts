import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { HttpProblem, isLoopback } from "../core/http-server.ts";

export interface CoordinatorGuard {
  /** Bound to loopback: a request must name a loopback Host (no DNS rebinding). */
  readonly loopback: boolean;
  /** The bearer token every request carries: configured, or generated at start. */
  readonly token: string;
}

/**
 * Who the coordinator answers. No browser page has any business here: a request naming another
 * Host (a rebound name), carrying a foreign Origin, without the bearer token, or with a body that
 * is not declared JSON (a no-cors `text/plain` POST) is refused before it is routed.
 */
export function guardRequest(request: IncomingMessage, guard: CoordinatorGuard): void {
  const host = request.headers.host ?? "";
  if (guard.loopback && !isLoopback(hostOf(host))) throw new HttpProblem(403, "this coordinator answers only to a loopback Host");
  const origin = request.headers.origin;
  if (origin !== undefined && originHost(origin) !== host.toLowerCase()) throw new HttpProblem(403, "requests from web pages are not allowed");
  if (!bearerMatches(request.headers.authorization, guard.token)) throw new HttpProblem(401, "missing or wrong bearer token");
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

/** Constant time, whatever the lengths. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/.exec(header ?? "")?.[1] ?? "";
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return given !== "" && timingSafeEqual(digest(given), digest(token));
}
