import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { LogObject } from "consola";
import { onTestFinished } from "vitest";
import { createAq, type Aq } from "../../src/app.ts";
import { startCoordinator, type RunningCoordinator } from "../../src/coordinator/server.ts";
import { parseJob } from "../../src/core/job-file.ts";
import type { JobMeta } from "../../src/core/meta.ts";
import { Runner, type RunSummary } from "../../src/core/runner.ts";
import { writeTestConfig } from "./cli.ts";
import { kindOf, type FleetRequest } from "./fleet-mock.ts";
import { jobText } from "./jobs.ts";
import { recordingLogger } from "./logger.ts";

export const TOKEN = "tok-FLEET-SENTINEL-5d1e";
export const PRODUCT = "prod-fleet-1";
export const PROMPT = "PROMPT-FLEET-SENTINEL-a83b";

export interface FleetAq {
  readonly aq: Aq;
  readonly queue: string;
  readonly log: ReturnType<typeof recordingLogger>;
  /** One `aq run --drain` in this process. */
  drain(concurrency?: number): Promise<RunSummary>;
  /** One `aq run --once` in this process. */
  once(): Promise<RunSummary>;
  /** Puts a local shell job in queued/ the way `aq add` does. */
  addLocal(id: string, body: string, frontmatter?: Record<string, unknown>): Promise<void>;
  /** Log records at warn level or worse (consola: error 0, warn 1). */
  loud(): LogObject[];
  /** Every log line as "tag: text" (or "text"), debug included. */
  lines(): string[];
  /** Log lines ("tag: text") at warn level or worse. */
  loudLines(): string[];
}

/**
 * aq assembled in this process over a fresh queue in `dir` with the fleet switch on, the test
 * config (shell jobs, short polls, no backoff), tracker-echo off, and a recording logger.
 */
export async function fleetAq(
  dir: string,
  env: Record<string, string | undefined>,
  config: Record<string, unknown> = {},
): Promise<FleetAq> {
  writeTestConfig(dir, { plugins: [["tracker-echo", false]], ...config });
  const log = recordingLogger();
  const fullEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries({
    PATH: process.env.PATH,
    AQ_FLEET: "1",
    AQ_FLEET_TOKEN: TOKEN,
    AQ_PRODUCT_ID: PRODUCT,
    AQ_FACTORY_ID: "factory-a",
    AQ_FLEET_LEASE_RENEW_SEC: "0.2",
    ...env,
  })) {
    if (value !== undefined) fullEnv[key] = value;
  }
  const aq = await createAq({ cwd: dir, env: fullEnv, logger: log.logger, by: "cli:test" });
  const loud = () => log.records.filter((record) => record.level <= 1);
  const line = (entry: LogObject) => `${entry.tag ? `${entry.tag}: ` : ""}${entry.args.map(String).join(" ")}`;
  return {
    aq,
    queue: aq.store.root,
    log,
    drain: (concurrency = 1) => new Runner(aq).run({ mode: "drain", concurrency }),
    once: () => new Runner(aq).run({ mode: "once", concurrency: 1 }),
    async addLocal(id, body, frontmatter = {}) {
      const text = jobText({ engine: "shell", ...frontmatter }, body);
      const record = await aq.store.create(
        { id, text, spec: parseJob(text, `${id}.md`), origin: { kind: "local" } },
        { by: "test" },
      );
      await aq.lifecycle.created(record, "test");
    },
    loud,
    lines: () => log.records.map(line),
    loudLines: () => loud().map(line),
  };
}

/** A development coordinator on loopback for one test (closed when it ends, unless already closed). */
export async function coordinator(
  options: { db?: string; leaseMs?: number; token?: string; port?: number } = {},
): Promise<RunningCoordinator> {
  // The coordinator always asks for a token: by default the one fleetAq's factories send.
  const running = await startCoordinator({
    port: options.port ?? 0,
    host: "127.0.0.1",
    db: options.db ?? ":memory:",
    leaseMs: options.leaseMs ?? 60_000,
    token: options.token ?? TOKEN,
  });
  let closed = false;
  const close = running.close;
  const wrapped: RunningCoordinator = {
    ...running,
    close: async () => {
      if (closed) return;
      closed = true;
      await close();
    },
  };
  onTestFinished(() => wrapped.close());
  return wrapped;
}

export function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A job for the dev coordinator: a shell script as its prompt. */
export function devJob(id: string, script: string, options: Record<string, unknown> = {}) {
  return { id, bodyMd: script, options: { engine: "shell", ...options } };
}

/** The local id a claimed fleet job gets (plugins/fleet/claim.ts: fleet-<id>-e<epoch>). */
export function localId(fleetJobId: string, epoch: number): string {
  return `fleet-${fleetJobId}-e${epoch}`;
}

/** The fleet part of a local job's meta.json. */
export function fleetOf(meta: JobMeta): {
  jobId: string;
  leaseEpoch: number;
  leaseExpiresAt?: string;
  factoryId: string;
} {
  return meta.fleet as { jobId: string; leaseEpoch: number; leaseExpiresAt?: string; factoryId: string };
}

export interface ProxiedRequest extends FleetRequest {
  status?: number;
}

export interface RecordingProxy {
  readonly api: string;
  readonly requests: ProxiedRequest[];
  /** Where requests go; change it to follow a restarted coordinator. */
  target: string;
  /** While true, every connection is dropped (the coordinator looks unreachable). */
  down: boolean;
  /** Runs before a request is forwarded (the test may change the coordinator's state). */
  before: (request: FleetRequest) => void | Promise<void>;
  of(kind: ReturnType<typeof kindOf>): ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of a real coordinator: records every request (method, path,
 * headers, body, answer status) and forwards it unchanged. `down` drops connections instead.
 */
export async function recordingProxy(target: string): Promise<RecordingProxy> {
  const proxy: RecordingProxy = {
    api: "",
    requests: [],
    target,
    down: false,
    before: () => {},
    of: (kind) => proxy.requests.filter((request) => kindOf(request) === kind),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      if (proxy.down) {
        req.socket.destroy();
        return;
      }
      let json: unknown;
      try {
        json = body ? JSON.parse(body) : undefined;
      } catch {
        json = undefined;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
      const request: ProxiedRequest = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers,
        body,
        json,
        at: Date.now(),
      };
      proxy.requests.push(request);
      await proxy.before(request);
      const forward: Record<string, string> = {};
      for (const name of ["authorization", "x-product-id", "content-type", "accept"])
        if (headers[name]) forward[name] = headers[name]!;
      try {
        const answer = await fetch(`${proxy.target}${request.path}`, {
          method: request.method,
          headers: forward,
          ...(body ? { body } : {}),
        });
        const text = await answer.text();
        request.status = answer.status;
        res
          .writeHead(
            answer.status,
            answer.headers.get("content-type") ? { "content-type": answer.headers.get("content-type")! } : {},
          )
          .end(text);
      } catch {
        req.socket.destroy();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  (proxy as { api: string }).api = `http://127.0.0.1:${port}/api`;
  let closed = false;
  proxy.close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  onTestFinished(() => proxy.close());
  // requests go to `${target}${path}` where path starts with /api
  proxy.target = target.replace(/\/api\/?$/, "");
  return proxy;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** JSON from the coordinator's HTTP API (GET), with its status; a bearer token (by default the test coordinator's; null for none). */
export async function getJson(
  url: string,
  token: string | null = TOKEN,
): Promise<{ status: number; body: any; text: string }> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const text = await response.text();
  return { status: response.status, body: jsonOf(text), text };
}

/** A response body as JSON, or undefined when it is empty or not JSON. */
export function jsonOf(text: string): any {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** A request with a JSON body to the coordinator's HTTP API. */
export async function sendJson(
  method: string,
  url: string,
  body: unknown,
  token: string | null = TOKEN,
): Promise<{ status: number; body: any; text: string }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method, headers, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: jsonOf(text), text };
}

/** The outbox of reports a fleet job keeps in meta.json (fleetState.outbox). */
export function outboxIn(meta: JobMeta): unknown {
  return (meta.fleetState as { outbox?: unknown } | undefined)?.outbox;
}
