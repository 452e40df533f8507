import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import * as v from "valibot";
import { ClaimRequest, HeartbeatRequest, LeaseRequest, ReportRequest } from "../contract/fleet.ts";
import { AqError } from "../core/errors.ts";
import { closeServer, HttpProblem, isLoopback, listen, readJson, send } from "../core/http-server.ts";
import { formatIssues } from "../core/validation.ts";
import { guardRequest, type CoordinatorGuard } from "./guard.ts";
import { createFleetPage } from "./page/index.ts";
import { CoordinatorStore, type CoordinatorJob, type Outcome } from "./store.ts";

export interface CoordinatorOptions {
  readonly port: number;
  readonly host: string;
  /** SQLite file, or ":memory:". */
  readonly db: string;
  readonly leaseMs: number;
  /** The bearer token every request must carry; required beyond loopback, generated at start on loopback when unset. */
  readonly token?: string | undefined;
}

export interface RunningCoordinator {
  readonly url: string;
  readonly api: string;
  readonly store: CoordinatorStore;
  /** The bearer token it asks of every request (the configured one, or the one it generated). */
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
 * The development coordinator: the fleet contract (docs/design.md, "The fleet plugin") over plain node:http, state in SQLite. It binds to
 * loopback unless told otherwise, and then only with a token. Routes under /api/dev are the
 * clearly marked dev-only way to enqueue jobs and read everything.
 */
export async function startCoordinator(options: CoordinatorOptions): Promise<RunningCoordinator> {
  if (!isLoopback(options.host) && !options.token) {
    throw new AqError("AQ_BAD_USAGE", `aq coordinator: binding to ${options.host} (beyond loopback) needs a token: set AQ_COORDINATOR_TOKEN`);
  }
  const guard: CoordinatorGuard = { loopback: isLoopback(options.host), token: options.token || randomBytes(32).toString("base64url") };
  const store = new CoordinatorStore(options.db, { leaseMs: options.leaseMs });
  const stats = new Map<string, number>();
  const page = createFleetPage(store, { host: options.host, token: guard.token });
  const server = createServer((request, response) => {
    if (page.serve(request, response)) return;
    const route = `${request.method} ${(request.url ?? "/").split("?")[0]!.replace(/\/fleet\/jobs\/[^/]+/, "/fleet/jobs/:id")}`;
    stats.set(route, (stats.get(route) ?? 0) + 1);
    handle(store, guard, request, response, stats).catch((error: unknown) => {
      const status = error instanceof HttpProblem ? error.status : 500;
      send(response, status, { error: error instanceof Error ? error.message : String(error) });
    });
  });
  server.keepAliveTimeout = 30_000;
  const url = await listen(server, options.port, options.host, "aq coordinator");
  return {
    url,
    api: `${url}/api`,
    store,
    token: guard.token,
    stats: () => Object.fromEntries(stats),
    close: () => closeServer(server).then(() => store.close()),
  };
}

async function handle(store: CoordinatorStore, guard: CoordinatorGuard, request: IncomingMessage, response: ServerResponse, stats: Map<string, number>): Promise<void> {
  guardRequest(request, guard);
  const url = new URL(request.url ?? "/", "http://coordinator");
  const path = url.pathname.replace(/\/+$/, "");
  const method = request.method ?? "GET";
  const body = method === "GET" ? undefined : await readJson(request);
  const route = `${method} ${path}`;

  if (route === "POST /api/fleet/factories/heartbeat") return send(response, 200, { ok: true, ...store.heartbeat(parse(HeartbeatRequest, body)) });
  if (route === "POST /api/fleet/claim") {
    const claim = parse(ClaimRequest, body);
    const claimed = store.claim(claim.factoryId, claim.capabilities);
    if (!claimed) return send(response, 204);
    const { job } = claimed;
    return send(response, 200, {
      job: { id: job.id, title: job.title ?? undefined, bodyMd: job.bodyMd, options: job.options, checkpoint: job.checkpoint },
      leaseEpoch: job.leaseEpoch,
      leaseExpiresAt: new Date(job.leaseExpiresAt!).toISOString(),
    });
  }
  if (route === "GET /api/fleet/factories" || route === "GET /api/dev/factories") return send(response, 200, { factories: store.factories() });
  if (route === "POST /api/dev/jobs") {
    const input = parse(DevJob, body);
    if (input.id && store.job(input.id)) throw new HttpProblem(409, `job ${input.id} exists`);
    return send(response, 201, view(store.enqueue(input)));
  }
  if (route === "GET /api/dev/jobs") return send(response, 200, { jobs: store.jobs().map(view) });
  if (route === "GET /api/dev/events") return send(response, 200, { events: store.events() });
  if (route === "GET /api/dev/stats") return send(response, 200, { requests: Object.fromEntries(stats) });

  const match = /^\/api\/fleet\/jobs\/([^/]+)(\/runs|\/events|\/lease\/renew|\/lease\/release)?$/.exec(path);
  if (!match) throw new HttpProblem(404, `no route ${route}`);
  const id = decodePathPart(match[1]!);
  const tail = match[2] ?? "";
  if (method === "GET") {
    const job = store.job(id);
    if (!job) throw new HttpProblem(404, `no job ${id}`);
    if (tail === "") return send(response, 200, view(job));
    if (tail === "/runs") return send(response, 200, { runs: store.runs(id) });
    if (tail === "/events") return send(response, 200, { events: store.events(id) });
  }
  if (method === "PATCH" && tail === "") return answer(response, store.report(id, parse(ReportRequest, body)), (job) => ({ ok: true, stage: job.stage }));
  if (method === "POST" && tail === "/lease/renew") {
    return answer(response, store.renew(id, parse(LeaseRequest, body).leaseEpoch), (job) => ({ ok: true, leaseExpiresAt: new Date(job.leaseExpiresAt!).toISOString() }));
  }
  if (method === "POST" && tail === "/lease/release") return answer(response, store.release(id, parse(LeaseRequest, body).leaseEpoch), (job) => ({ ok: true, stage: job.stage }));
  throw new HttpProblem(405, `${method} not allowed on ${path}`);
}

function answer(response: ServerResponse, outcome: Outcome<CoordinatorJob>, ok: (job: CoordinatorJob) => object): void {
  if (outcome.ok) return send(response, 200, ok(outcome.value));
  if (outcome.reason === "missing") return send(response, 404, { error: "no such job" });
  send(response, 409, { error: "stale lease epoch: another factory holds this job", currentEpoch: outcome.currentEpoch });
}

/** The read-only view of a job: everything but its prompt. */
function view(job: CoordinatorJob) {
  const { bodyMd: _, ...rest } = job;
  return { ...rest, leaseExpiresAt: job.leaseExpiresAt === null ? null : new Date(job.leaseExpiresAt).toISOString() };
}

function parse<S extends v.GenericSchema>(schema: S, body: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, body);
  if (!result.success) throw new HttpProblem(400, `bad request: ${formatIssues(result.issues)}`);
  return result.output;
}

/** A malformed escape in the path (`%E0%A4%A`) is the client's mistake: 400, not 500. */
function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpProblem(400, "bad job id in the path: not a valid percent-encoding");
  }
}
