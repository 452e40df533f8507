import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import * as v from "valibot";
import { ClaimRequest, HeartbeatRequest, LeaseRequest, ReportRequest } from "../contract/fleet.ts";
import { AqError } from "../core/errors.ts";
import { closeServer, HttpProblem, isLoopback, listen, readJson, send } from "../core/http-server.ts";
import { formatIssues } from "../core/validation.ts";
import {
  FactoryId,
  hashToken,
  identify,
  newFactoryToken,
  requireAdmin,
  requireFleetCaller,
  requireGrantee,
  requireSelf,
} from "./auth.ts";
import type { FleetStore, LeaseState, Outcome } from "./fleet-store.ts";
import { type CoordinatorGuard, decodePathPart, guardRequest } from "./guard.ts";
import { handleOperatorRoute, handleShadowRoute, heartbeatNote, view } from "./operator-routes.ts";
import { createFleetPage } from "./page/index.ts";
import type { CoordinatorStore } from "./store.ts";
import { openStore } from "./stores.ts";

export interface CoordinatorOptions {
  readonly port: number;
  readonly host: string;
  /** SQLite file, ":memory:", or a postgres:// URL. */
  readonly db: string;
  readonly leaseMs: number;
  /** PostgreSQL connections of this process (default 10). */
  readonly pool?: number | undefined;
  /** When set, events of finished jobs older than this (ms) are pruned every so often. */
  readonly keepEventsMs?: number | undefined;
  /** The operator's token: required beyond loopback; generated at start on loopback when unset. Every request carries it or an enrolled factory's token. */
  readonly token?: string | undefined;
  /** Accept the operator's token on fleet routes even when factories are enrolled: development only. */
  readonly acceptSharedToken?: boolean | undefined;
}

export interface RunningCoordinator {
  readonly url: string;
  readonly api: string;
  /** The store behind this coordinator, whatever its engine. */
  readonly fleetStore: FleetStore;
  /** The SQLite store itself, synchronous (SQLite only: throws for PostgreSQL). */
  readonly store: CoordinatorStore;
  /** The operator's bearer token (the configured one, or the one it generated). */
  readonly token: string;
  /** Requests served so far, by method and route. */
  stats(): Record<string, number>;
  close(): Promise<void>;
}

const DevJob = v.object({
  id: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, "must be a job id"))),
  title: v.optional(v.string()),
  bodyMd: v.pipe(v.string(), v.nonEmpty("bodyMd is empty")),
  options: v.optional(v.record(v.string(), v.unknown())),
  requires: v.optional(v.array(v.string())),
  priority: v.optional(v.pipe(v.number(), v.integer())),
});

/**
 * The coordinator: the fleet contract over plain node:http, state in SQLite or PostgreSQL (any
 * number of processes over one PostgreSQL database act as one: nothing that matters is in memory). It binds to
 * loopback unless told otherwise, and then only with a token. The operator's routes (enqueue,
 * list, cancel) are in operator-routes.ts; routes under /api/dev are the clearly marked dev-only
 * way (tests, `aq demo`) to enqueue unvalidated jobs and read everything.
 */
export async function startCoordinator(options: CoordinatorOptions): Promise<RunningCoordinator> {
  if (!isLoopback(options.host) && !options.token) {
    throw new AqError(
      "AQ_BAD_USAGE",
      `aq coordinator: binding to ${options.host} (beyond loopback) needs a token: set AQ_COORDINATOR_TOKEN`,
    );
  }
  const token = options.token || randomBytes(32).toString("base64url");
  const guard: CoordinatorGuard = { loopback: isLoopback(options.host) };
  const store = await openStore(options.db, { leaseMs: options.leaseMs, pool: options.pool });
  const pruner = options.keepEventsMs
    ? setInterval(
        () => void store.pruneEvents(Date.now() - options.keepEventsMs!).catch(() => {}),
        Math.min(3_600_000, options.keepEventsMs),
      )
    : undefined;
  pruner?.unref();
  const stats = new Map<string, number>();
  // The page only reads (never a prompt): like `aq dashboard`, open on loopback unless a token was configured.
  const page = createFleetPage(store, { host: options.host, token: options.token });
  const server = createServer((request, response) => {
    if (page.serve(request, response)) return;
    const route = `${request.method} ${(request.url ?? "/").split("?")[0]!.replace(/\/fleet\/jobs\/[^/]+/, "/fleet/jobs/:id")}`;
    stats.set(route, (stats.get(route) ?? 0) + 1);
    handle(store, { ...options, token }, guard, request, response, stats).catch((error: unknown) => {
      const status = error instanceof HttpProblem ? error.status : 500;
      send(response, status, { error: error instanceof Error ? error.message : String(error) });
    });
  });
  server.keepAliveTimeout = 30_000;
  const url = await listen(server, options.port, options.host, "aq coordinator").catch(async (error: unknown) => {
    page.close();
    await store.close();
    throw error;
  });
  return {
    url,
    api: `${url}/api`,
    fleetStore: store,
    token,
    get store(): CoordinatorStore {
      const sync = (store as { sync?: CoordinatorStore }).sync;
      if (sync) return sync;
      throw new Error(`this coordinator's store is ${store.engine}, not SQLite: use fleetStore`);
    },
    stats: () => Object.fromEntries(stats),
    close: () => {
      if (pruner) clearInterval(pruner);
      page.close();
      return closeServer(server).then(() => store.close());
    },
  };
}

async function handle(
  store: FleetStore,
  options: CoordinatorOptions & { token: string },
  guard: CoordinatorGuard,
  request: IncomingMessage,
  response: ServerResponse,
  stats: Map<string, number>,
): Promise<void> {
  guardRequest(request, guard);
  const url = new URL(request.url ?? "/", "http://coordinator");
  const path = url.pathname.replace(/\/+$/, "");
  const method = request.method ?? "GET";
  const route = `${method} ${path}`;
  if (route === "GET /api/health") {
    await store.ping();
    return send(response, 200, { ok: true, engine: store.engine });
  }
  const caller = await identify(request.headers.authorization, options.token, store);
  const body = method === "GET" || method === "DELETE" ? undefined : await readJson(request);
  if (path.startsWith("/api/admin/") || path.startsWith("/api/dev/")) {
    requireAdmin(caller);
    return handleAdmin(store, route, path, body, response, stats);
  }
  if (await handleOperatorRoute(store, caller, request, response, url, path, body)) return;
  await requireFleetCaller(caller, store, options.acceptSharedToken === true);

  if (route === "POST /api/fleet/factories/heartbeat") {
    const beat = parse(HeartbeatRequest, body);
    requireSelf(caller, beat.factoryId);
    return send(response, 200, { ok: true, ...(await store.heartbeat(beat)), ...(await heartbeatNote(store)) });
  }
  if (await handleShadowRoute(store, caller, route, body, response)) return;
  if (route === "POST /api/fleet/claim") {
    const claim = parse(ClaimRequest, body);
    requireSelf(caller, claim.factoryId);
    const claimed = await store.claim(claim.factoryId, claim.capabilities);
    if (!claimed) return send(response, 204);
    const { job } = claimed;
    return send(response, 200, {
      job: {
        id: job.id,
        title: job.title ?? undefined,
        bodyMd: job.bodyMd,
        options: job.options,
        checkpoint: job.checkpoint,
      },
      leaseEpoch: job.leaseEpoch,
      leaseExpiresAt: new Date(job.leaseExpiresAt!).toISOString(),
    });
  }

  const match = /^\/api\/fleet\/jobs\/([^/]+)(\/runs|\/events|\/lease\/renew|\/lease\/release)?$/.exec(path);
  if (!match) throw new HttpProblem(404, `no route ${route}`);
  const id = decodePathPart(match[1]!);
  const tail = match[2] ?? "";
  if (method === "GET") {
    const job = await store.job(id);
    if (!job) throw new HttpProblem(404, `no job ${id}`);
    if (tail === "/runs") return send(response, 200, { runs: await store.runs(id) });
    if (tail === "/events") return send(response, 200, { events: await store.events(id) });
  }
  if (method === "PATCH" && tail === "") {
    const report = parse(ReportRequest, body);
    await requireGrantee(caller, store, id, report.leaseEpoch);
    return answer(response, await store.report(id, report), (job) => ({ ok: true, stage: job.stage }));
  }
  if (method === "POST" && (tail === "/lease/renew" || tail === "/lease/release")) {
    const { leaseEpoch } = parse(LeaseRequest, body);
    await requireGrantee(caller, store, id, leaseEpoch);
    if (tail === "/lease/renew")
      return answer(response, await store.renew(id, leaseEpoch), (job) => ({
        ok: true,
        leaseExpiresAt: new Date(job.leaseExpiresAt!).toISOString(),
      }));
    return answer(response, await store.release(id, leaseEpoch), (job) => ({ ok: true, stage: job.stage }));
  }
  throw new HttpProblem(405, `${method} not allowed on ${path}`);
}

/** The operator's routes: enrollment, and the clearly marked dev-only enqueue and listings. */
async function handleAdmin(
  store: FleetStore,
  route: string,
  _path: string,
  body: unknown,
  response: ServerResponse,
  stats: Map<string, number>,
): Promise<void> {
  if (route === "POST /api/admin/factories") {
    const { factoryId } = parse(v.object({ factoryId: FactoryId }), body);
    const token = newFactoryToken();
    await store.enroll(factoryId, hashToken(token));
    return send(response, 201, { factoryId, token });
  }
  if (route === "GET /api/admin/factories") return send(response, 200, { enrollments: await store.enrollments() });
  const revoke = /^DELETE \/api\/admin\/factories\/([^/]+)$/.exec(route);
  if (revoke) {
    const factoryId = decodePathPart(revoke[1]!);
    return send(response, 200, { factoryId, ...(await store.revoke(factoryId)) });
  }
  if (route === "GET /api/dev/factories") return send(response, 200, { factories: await store.factories() });
  if (route === "POST /api/dev/jobs") {
    const input = parse(DevJob, body);
    const added = await store.enqueue(input);
    if (!added) throw new HttpProblem(409, `job ${input.id} exists`);
    return send(response, 201, view(added));
  }
  if (route === "GET /api/dev/jobs") return send(response, 200, { jobs: (await store.jobs()).map(view) });
  if (route === "GET /api/dev/events") return send(response, 200, { events: await store.events() });
  if (route === "GET /api/dev/stats") return send(response, 200, { requests: Object.fromEntries(stats) });
  throw new HttpProblem(404, `no route ${route}`);
}

function answer(response: ServerResponse, outcome: Outcome<LeaseState>, ok: (job: LeaseState) => object): void {
  if (outcome.ok) {
    send(response, 200, ok(outcome.value));
    return;
  }
  if (outcome.reason === "missing") {
    send(response, 404, { error: "no such job" });
    return;
  }
  send(response, 409, {
    error: "stale lease epoch: another factory holds this job",
    currentEpoch: outcome.currentEpoch,
  });
}

function parse<S extends v.GenericSchema>(schema: S, body: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, body);
  if (!result.success) throw new HttpProblem(400, `bad request: ${formatIssues(result.issues)}`);
  return result.output;
}
