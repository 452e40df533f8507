import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { AqError } from "../core/errors.ts";
import { HttpProblem, isLoopback } from "../core/http-server.ts";

export const COOKIE = "aq_dashboard";
export const ACTION_HEADER = "x-aq-token";

export interface GuardOptions {
  /** Bound to loopback: requests must name a loopback Host (no DNS rebinding). */
  readonly loopback: boolean;
  /** AQ_DASHBOARD_TOKEN, required beyond loopback: every request must carry it. */
  readonly accessToken?: string | undefined;
  /** This process's random token, given to the page; every action must carry it. */
  readonly actionToken: string;
}

/** Beyond loopback the dashboard starts only with AQ_DASHBOARD_TOKEN. */
export function checkBinding(host: string, accessToken: string | undefined): void {
  if (!isLoopback(host) && !accessToken)
    throw new AqError(
      "AQ_BAD_USAGE",
      `aq dashboard: binding to ${host} (beyond loopback) needs a token: set AQ_DASHBOARD_TOKEN`,
    );
}

/** What to do with a request that passed: go on, or send the browser to the URL without its token. */
export type Admission = { readonly ok: true } | { readonly redirect: string; readonly cookie: string };

/**
 * Who may read the page and its API. On loopback: a request naming another Host is refused (a
 * page on another site cannot rebind a name to 127.0.0.1 and read the queue). Beyond loopback:
 * AQ_DASHBOARD_TOKEN as a bearer header, or as `?token=` once, which sets an HttpOnly,
 * SameSite=Strict cookie and redirects to the same URL without it.
 */
export function admit(request: IncomingMessage, url: URL, options: GuardOptions): Admission {
  if (options.loopback && !isLoopback(hostOf(request.headers.host ?? "")))
    throw new HttpProblem(403, "this dashboard answers only to a loopback Host");
  if (!options.accessToken) return { ok: true };
  const query = url.searchParams.get("token");
  if (query !== null && same(query, options.accessToken)) {
    url.searchParams.delete("token");
    const cookie = `${COOKIE}=${encodeURIComponent(options.accessToken)}; HttpOnly; SameSite=Strict; Path=/`;
    return { redirect: `${url.pathname}${url.search}`, cookie };
  }
  const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
  const cookie = cookieOf(request.headers.cookie ?? "", COOKIE);
  if (
    (bearer !== undefined && same(bearer, options.accessToken)) ||
    (cookie !== undefined && same(cookie, options.accessToken))
  )
    return { ok: true };
  throw new HttpProblem(
    401,
    "this dashboard needs its token: open it with ?token=… once, or send Authorization: Bearer …",
  );
}

/**
 * An action (POST) must come from the page this process served: a JSON body (a cross-site form
 * cannot send one without a preflight), the page's token in a header, and, when the browser
 * names an Origin, this very host.
 */
export function checkAction(request: IncomingMessage, options: GuardOptions): void {
  const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") throw new HttpProblem(403, "actions must be sent as application/json");
  const token = request.headers[ACTION_HEADER];
  if (typeof token !== "string" || !same(token, options.actionToken))
    throw new HttpProblem(403, `actions need the page's token in the ${ACTION_HEADER} header`);
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== "null") {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      throw new HttpProblem(403, "bad Origin");
    }
    if (host !== request.headers.host) throw new HttpProblem(403, `actions from ${origin} are not allowed`);
  } else if (origin === "null") {
    throw new HttpProblem(403, "actions from an opaque origin are not allowed");
  }
}

/** Compares two secrets in constant time, whatever their lengths. */
function same(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function hostOf(header: string): string {
  if (header.startsWith("[")) return header.slice(0, header.indexOf("]") + 1);
  return header.split(":")[0]!;
}

function cookieOf(header: string, name: string): string | undefined {
  for (const part of header.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) {
      try {
        return decodeURIComponent(value.join("="));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
