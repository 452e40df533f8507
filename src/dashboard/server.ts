import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { Aq } from "../app.ts";
import { oneLine } from "../core/errors.ts";
import { closeServer, isLoopback, listen, send } from "../core/http-server.ts";
import { EventHub } from "./events.ts";
import type { GuardOptions } from "./guard.ts";
import { admit, checkBinding } from "./guard.ts";
import { pageAssets } from "./page/assets.ts";
import { problemOf, route, type RouteContext } from "./routes.ts";
import { Snapshot } from "./snapshot.ts";
import { QueueWatcher, WATCHED_STAGES } from "./watch.ts";

export interface DashboardOptions {
  readonly port: number;
  readonly host: string;
  /** AQ_DASHBOARD_TOKEN: required beyond loopback, then asked of every request. */
  readonly accessToken?: string | undefined;
  /** Quiet time before a change on disk reaches the pages. */
  readonly debounceMs?: number;
  /** How often plugins' panels (a coordinator's reachability) are asked again while a page is open. */
  readonly panelsMs?: number;
}

export interface RunningDashboard {
  readonly url: string;
  readonly snapshot: Snapshot;
  close(): Promise<void>;
}

/**
 * `aq dashboard`: one page of this queue over plain node:http (as the development coordinator),
 * fed by a status snapshot that is rebuilt once per quiet window after the queue directory
 * changed, and pushed to the open pages as server-sent events. It reads the queue and acts only
 * through the CLI's actions: it starts no runner and claims nothing.
 */
export async function startDashboard(aq: Aq, options: DashboardOptions): Promise<RunningDashboard> {
  checkBinding(options.host, options.accessToken);
  const loopback = isLoopback(options.host);
  const guard: GuardOptions = {
    loopback,
    accessToken: options.accessToken,
    actionToken: randomBytes(24).toString("base64url"),
  };
  const snapshot = new Snapshot(aq);
  const hub = new EventHub();
  let lastVersion = -1;
  /** Rebuilds the snapshot and tells the pages, unless nothing came of it. */
  const publish = async () => {
    snapshot.invalidate();
    const report = await snapshot.current({ fresh: true });
    watcher.follow(snapshot.idsIn(WATCHED_STAGES));
    if (snapshot.version === lastVersion) return;
    lastVersion = snapshot.version;
    hub.send("change", { version: snapshot.version, counts: report.counts });
  };
  const publishSoon = () =>
    void publish().catch((error) => aq.logger.warn(`dashboard: cannot read the queue: ${oneLine(error)}`));
  const watcher = new QueueWatcher(aq.store, aq.logger, {
    debounceMs: options.debounceMs ?? 150,
    onChange: publishSoon,
    onJob: (id) => hub.send("job", { id }),
  });
  const ctx: RouteContext = {
    aq,
    snapshot,
    hub,
    guard,
    assets: await pageAssets(guard.actionToken),
    changed: publishSoon,
  };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://dashboard");
    void (async () => {
      const admission = admit(request, url, guard);
      if ("redirect" in admission)
        return void response.writeHead(303, { location: admission.redirect, "set-cookie": admission.cookie }).end();
      await route(ctx, request, response, url);
    })().catch((error: unknown) => {
      const { status, body, allow } = problemOf(error);
      if (status >= 500) aq.logger.warn(`dashboard: ${request.method} ${url.pathname}: ${body.error}`);
      if (response.headersSent) return void response.end();
      send(response, status, body, allow ? { allow } : {});
    });
  });
  server.keepAliveTimeout = 30_000;
  const url = `${await listen(server, options.port, options.host, "aq dashboard")}/`;
  watcher.start();
  await snapshot.current();
  lastVersion = snapshot.version;
  watcher.follow(snapshot.idsIn(WATCHED_STAGES));
  // Plugins' panels may change without the queue changing (the coordinator goes away).
  const panels = setInterval(() => {
    if (hub.size === 0) return;
    void snapshot.refreshPanels().then(
      (changed) => changed && hub.send("change", { version: snapshot.version, panels: true }),
      () => {},
    );
  }, options.panelsMs ?? 10_000);
  panels.unref();
  return {
    url,
    snapshot,
    close: async () => {
      clearInterval(panels);
      watcher.close();
      hub.close();
      await closeServer(server);
    },
  };
}
