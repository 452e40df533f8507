import { decodePathPart } from "../guard.ts";
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpProblem, isLoopback, send } from "../../core/http-server.ts";
import { EventHub } from "../../dashboard/events.ts";
import { admit, type GuardOptions } from "../../dashboard/guard.ts";
import { fleetPageAssets } from "./assets.ts";
import { type FleetReads, fleetView, jobTimeline } from "./views.ts";

export interface FleetPage {
  /** Serves the page's own routes (true), or lets the coordinator answer (false). */
  serve(request: IncomingMessage, response: ServerResponse): boolean;
  close(): void;
}

const PAGE_ROUTES = /^\/(?:ui\/.*)?$/;

/**
 * The coordinator's page: its factories, their leases, the fleet's jobs and each job's timeline,
 * live through server-sent events. The same guards as `aq dashboard`: on loopback it answers only
 * a loopback Host; beyond it, the coordinator's token (once as ?token=, then a cookie, or as a
 * bearer header). It only reads: the page has no action, and it never shows a job's prompt.
 */
export function createFleetPage(
  store: FleetReads,
  options: { host: string; token?: string | undefined; tickMs?: number },
): FleetPage {
  const guard: GuardOptions = {
    loopback: isLoopback(options.host),
    accessToken: options.token,
    actionToken: randomBytes(24).toString("base64url"),
  };
  let assets: ReturnType<typeof fleetPageAssets> | undefined;
  const hub = new EventHub();
  let version = 0;
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      hub.send("change", { version: ++version });
    }, 100);
  };
  // Other coordinator processes on the same database change it too: pages catch up now and then.
  const tick = setInterval(
    () => hub.size > 0 && hub.send("change", { version: ++version, tick: true }),
    options.tickMs ?? 5_000,
  );
  tick.unref();

  const handle = async (request: IncomingMessage, response: ServerResponse, url: URL) => {
    const admission = admit(request, url, guard);
    if ("redirect" in admission)
      return void response.writeHead(303, { location: admission.redirect, "set-cookie": admission.cookie }).end();
    if (request.method !== "GET" && request.method !== "HEAD")
      throw new HttpProblem(405, `${request.method} is not allowed on ${url.pathname}`, "GET");
    assets ??= fleetPageAssets().catch((error: unknown) => {
      assets = undefined;
      throw error;
    });
    const file = (await assets)[url.pathname];
    if (file) {
      const headers: Record<string, string> = { "content-type": file.type, "cache-control": "no-store" };
      if (url.pathname === "/")
        headers["content-security-policy"] =
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
      return void response.writeHead(200, headers).end(file.body);
    }
    if (url.pathname === "/ui/api/fleet") return send(response, 200, await fleetView(store));
    if (url.pathname === "/ui/api/events") {
      if (!hub.open(response, { version })) throw new HttpProblem(503, `too many open pages (${hub.max})`);
      return;
    }
    const job = /^\/ui\/api\/jobs\/([^/]+)$/.exec(url.pathname);
    if (job) {
      const timeline = await jobTimeline(store, decodePathPart(job[1]!));
      if (!timeline) throw new HttpProblem(404, "no such job");
      return send(response, 200, timeline);
    }
    throw new HttpProblem(404, `no route ${url.pathname}`);
  };

  return {
    serve(request, response) {
      const url = new URL(request.url ?? "/", "http://coordinator");
      if (!PAGE_ROUTES.test(url.pathname)) {
        // Whatever changes the fleet (a claim, a report, a heartbeat) reaches the open pages.
        if (request.method !== "GET" && request.method !== "HEAD") response.once("finish", changed);
        return false;
      }
      handle(request, response, url).catch((error: unknown) => {
        if (response.headersSent) return void response.end();
        const status = error instanceof HttpProblem ? error.status : 500;
        send(response, status, { error: error instanceof Error ? error.message.split("\n", 1)[0] : String(error) });
      });
      return true;
    },
    close() {
      clearInterval(tick);
      clearTimeout(timer);
      hub.close();
    },
  };
}
