import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import * as v from "valibot";
import { cancel } from "../actions/cancel.ts";
import { promote } from "../actions/promote.ts";
import { block, retry } from "../actions/retry-block.ts";
import { ship } from "../actions/ship.ts";
import type { Aq } from "../app.ts";
import { AqError, type AqErrorCode } from "../core/errors.ts";
import { HttpProblem, readJson, send } from "../core/http-server.ts";
import { JOB_ID } from "../core/job-id.ts";
import { JOB_FILE, LOG_FILE } from "../core/queue-store.ts";
import { STAGE_NAMES } from "../core/stages.ts";
import { statusJobOf } from "../core/status.ts";
import { formatIssues } from "../core/validation.ts";
import { jobDiff } from "./diff.ts";
import type { EventHub } from "./events.ts";
import { checkAction, type GuardOptions } from "./guard.ts";
import type { Asset } from "./page/assets.ts";
import { isNotServed, openJobFile } from "./safe-file.ts";
import type { Snapshot } from "./snapshot.ts";

export interface RouteContext {
  readonly aq: Aq;
  readonly snapshot: Snapshot;
  readonly hub: EventHub;
  readonly guard: GuardOptions;
  /** The page's own files: the HTML (with this process's token), its script and its style. */
  readonly assets: Readonly<Record<string, Asset>>;
  /** Called after an action changed the queue, so pages hear of it without waiting for the watcher. */
  readonly changed: () => void;
}

type Handler = (
  ctx: RouteContext,
  request: IncomingMessage,
  response: ServerResponse,
  params: { id?: string; url: URL },
) => Promise<void> | void;

const LOG_TAIL = 64 * 1024;
const LOG_CHUNK = 256 * 1024;
const PROMPT_MAX = 64 * 1024;

const JobsQuery = v.object({
  stage: v.optional(v.picklist([...STAGE_NAMES, "active", "all"] as const, "must be a stage, active or all"), "active"),
  q: v.optional(v.pipe(v.string(), v.maxLength(200, "is longer than 200 characters")), ""),
  offset: v.optional(v.pipe(v.string(), v.regex(/^\d{1,9}$/, "must be a whole number"), v.transform(Number)), "0"),
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,4}$/, "must be a whole number"),
      v.transform(Number),
      v.minValue(1, "must be 1 to 500"),
      v.maxValue(500, "must be 1 to 500"),
    ),
    "50",
  ),
});

const LogQuery = v.object({
  from: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be a byte offset"), v.transform(Number))),
});

const NoBody = v.optional(v.object({}));
const BlockBody = v.object({
  reason: v.pipe(
    v.string("must be a string"),
    v.trim(),
    v.nonEmpty("must say why the job is blocked"),
    v.maxLength(500, "is longer than 500 characters"),
  ),
});
const CancelBody = v.optional(
  v.object({ to: v.optional(v.picklist(["queued", "failed"], "must be queued or failed")) }),
  {},
);
const ShipBody = v.optional(v.object({ force: v.optional(v.boolean("must be true or false")) }), {});

/**
 * The actions of the CLI, each calling the very function its command calls (src/actions/), so a
 * person on the page goes through the same checks, hooks (beforeShip) and history entries.
 */
const ACTIONS: Record<string, (aq: Aq, id: string, body: unknown) => Promise<Record<string, unknown>>> = {
  retry: async (aq, id, body) => {
    parse(NoBody, body);
    return { stage: await retry(aq, id) };
  },
  block: async (aq, id, body) => ({ stage: await block(aq, id, parse(BlockBody, body).reason) }),
  promote: async (aq, id, body) => {
    parse(NoBody, body);
    return { ...(await promote(aq, id)) };
  },
  cancel: async (aq, id, body) => ({ ...(await cancel(aq, id, { to: parse(CancelBody, body)?.to ?? "queued" })) }),
  ship: async (aq, id, body) => ({
    stage: "shipped",
    ...(await ship(aq, id, { force: parse(ShipBody, body)?.force === true })),
  }),
};

const asset: Handler = (ctx, _request, response, { url }) => {
  const file = ctx.assets[url.pathname];
  if (!file) throw new HttpProblem(404, `no route ${url.pathname}`);
  const headers: Record<string, string> = { "content-type": file.type, "cache-control": "no-store" };
  if (url.pathname === "/") {
    headers["content-security-policy"] =
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  }
  response.writeHead(200, headers).end(file.body);
};

const summary: Handler = async (ctx, _request, response) => {
  const report = await ctx.snapshot.current();
  await ctx.snapshot.refreshPanels(2_000);
  const { jobs: _, ...rest } = report;
  send(response, 200, {
    ...rest,
    queue: ctx.aq.store.root,
    version: ctx.snapshot.version,
    builtAt: ctx.snapshot.builtAt,
    buildMs: ctx.snapshot.buildMs,
    panels: ctx.snapshot.panels,
    total: report.jobs.length,
  });
};

const jobs: Handler = async (ctx, _request, response, { url }) => {
  send(response, 200, await ctx.snapshot.page(parse(JobsQuery, Object.fromEntries(url.searchParams))));
};

const job: Handler = async (ctx, _request, response, { id }) => {
  const record = await ctx.aq.store.get(id!);
  // A job file that is a link is left out of the view (the log route says why), never followed.
  const prompt = ctx.guard.loopback
    ? await readHead(join(record.dir, JOB_FILE), PROMPT_MAX).catch(unlessNotServed(undefined))
    : undefined;
  const agent = record.meta.agent;
  const { columns, badges } = statusJobOf(ctx.aq.hooks, record.meta, record.stage);
  const logSize = await sizeOf(join(record.dir, LOG_FILE)).catch(unlessNotServed(0));
  send(response, 200, {
    id: record.id,
    stage: record.stage,
    dir: record.dir,
    engine: agent?.name ?? record.meta.engine?.name ?? (await ctx.snapshot.engineOf(record)),
    agent,
    meta: record.meta,
    ...(columns ? { columns } : {}),
    ...(badges ? { badges } : {}),
    logSize,
    ...(prompt === undefined ? {} : { prompt }),
  });
};

const log: Handler = async (ctx, _request, response, { id, url }) => {
  const record = await ctx.aq.store.get(id!);
  const { from } = parse(LogQuery, Object.fromEntries(url.searchParams));
  send(response, 200, { id: record.id, stage: record.stage, ...(await readLog(join(record.dir, LOG_FILE), from)) });
};

const diff: Handler = async (ctx, _request, response, { id }) => {
  const record = await ctx.aq.store.get(id!);
  const changes = await jobDiff(record.meta, record.stage).catch((error: unknown) => ({
    problem: error instanceof Error ? error.message : String(error),
  }));
  send(response, 200, { id: record.id, stage: record.stage, ...(changes ? { diff: changes } : {}) });
};

const events: Handler = async (ctx, _request, response) => {
  if (!ctx.hub.open(response, { version: ctx.snapshot.version }))
    throw new HttpProblem(503, `too many open pages (${ctx.hub.max})`);
};

const action: Handler = async (ctx, request, response, { id, url }) => {
  checkAction(request, ctx.guard);
  const name = url.pathname.split("/").at(-1)!;
  const body = await readJson(request, 64 * 1024);
  try {
    const result = await ACTIONS[name]!(ctx.aq, id!, body);
    send(response, 200, { ok: true, id, action: name, ...result });
  } finally {
    ctx.changed();
  }
};

const ROUTES: Array<{ path: RegExp; methods: Record<string, Handler> }> = [
  { path: /^\/(?:app\.css|js\/[\w./-]+\.js)?$/, methods: { GET: asset } },
  { path: /^\/api\/summary$/, methods: { GET: summary } },
  { path: /^\/api\/events$/, methods: { GET: events } },
  { path: /^\/api\/jobs$/, methods: { GET: jobs } },
  { path: /^\/api\/jobs\/([^/]+)$/, methods: { GET: job } },
  { path: /^\/api\/jobs\/([^/]+)\/log$/, methods: { GET: log } },
  { path: /^\/api\/jobs\/([^/]+)\/diff$/, methods: { GET: diff } },
  { path: /^\/api\/jobs\/([^/]+)\/(?:retry|block|promote|ship|cancel)$/, methods: { POST: action } },
];

/** Routes a request: unknown paths 404, a known path with another method 405, a bad job id 400. */
export async function route(
  ctx: RouteContext,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
): Promise<void> {
  const method = request.method === "HEAD" ? "GET" : (request.method ?? "GET");
  for (const { path, methods } of ROUTES) {
    const match = path.exec(url.pathname);
    if (!match) continue;
    const handler = methods[method];
    if (!handler)
      throw new HttpProblem(
        405,
        `${request.method} is not allowed on ${url.pathname}`,
        Object.keys(methods).join(", "),
      );
    let id: string | undefined;
    if (url.pathname.startsWith("/api/jobs/")) {
      id = decode(match[1]!);
      if (!JOB_ID.test(id)) throw new HttpProblem(400, `invalid job id ${JSON.stringify(id)}`);
    }
    return handler(ctx, request, response, { id, url });
  }
  throw new HttpProblem(404, `no route ${url.pathname}`);
}

/** AqError codes as HTTP statuses: the same one-line message the CLI prints. */
const STATUS_OF: Record<AqErrorCode, number> = {
  AQ_BAD_USAGE: 400,
  AQ_BAD_JOB: 400,
  AQ_BAD_CONFIG: 400,
  AQ_BAD_PLUGIN: 400,
  AQ_NOT_FOUND: 404,
  AQ_CONFLICT: 409,
  AQ_FAILED: 422,
};

export function problemOf(error: unknown): { status: number; body: { error: string; code?: string }; allow?: string } {
  if (error instanceof HttpProblem)
    return { status: error.status, body: { error: error.message }, ...(error.allow ? { allow: error.allow } : {}) };
  if (error instanceof AqError)
    return { status: STATUS_OF[error.code], body: { error: error.message, code: error.code } };
  return {
    status: 500,
    body: { error: `internal error: ${error instanceof Error ? error.message.split("\n", 1)[0] : String(error)}` },
  };
}

function parse<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (!result.success) throw new HttpProblem(400, `bad request: ${formatIssues(result.issues)}`);
  return result.output;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpProblem(400, "bad job id");
  }
}

async function sizeOf(path: string): Promise<number> {
  const handle = await openJobFile(path);
  if (!handle) return 0;
  try {
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

function unlessNotServed<T>(fallback: T): (error: unknown) => T {
  return (error) => {
    if (isNotServed(error)) return fallback;
    throw error;
  };
}

async function readHead(path: string, max: number): Promise<string | undefined> {
  const chunk = await readLog(path, 0, max);
  return chunk.to === 0 && chunk.size === 0 ? undefined : chunk.text;
}

/** Bytes `from`… of a log (the last 64 KiB without `from`), at most 256 KiB per answer. */
async function readLog(
  path: string,
  from: number | undefined,
  max = LOG_CHUNK,
): Promise<{ from: number; to: number; size: number; text: string }> {
  const handle = await openJobFile(path);
  if (!handle) return { from: 0, to: 0, size: 0, text: "" };
  try {
    const size = (await handle.stat()).size;
    const start = from === undefined ? Math.max(0, size - LOG_TAIL) : Math.min(from, size);
    const length = Math.min(max, size - start);
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, start);
    return { from: start, to: start + bytesRead, size, text: buffer.subarray(0, bytesRead).toString("utf8") };
  } finally {
    await handle.close();
  }
}
