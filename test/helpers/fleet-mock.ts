import { MockAgent } from "undici";
import { useDispatcher } from "../../plugins/shared/http.ts";

/** The fake coordinator's origin in MockAgent tests; the API is `${MOCK_ORIGIN}/api`. */
export const MOCK_ORIGIN = "http://coord.test";
export const MOCK_API = `${MOCK_ORIGIN}/api`;

/** One request the fake coordinator received, in arrival order. */
export interface FleetRequest {
  readonly method: string;
  /** The path with the /api prefix, e.g. /api/fleet/claim */
  readonly path: string;
  /** Lower-cased header names. */
  readonly headers: Record<string, string>;
  /** The raw request body ("" when none). */
  readonly body: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: any;
  readonly at: number;
}

export interface MockReply {
  readonly statusCode: number;
  readonly data?: string | object;
  readonly headers?: Record<string, string>;
}

/** A reply that is a network error instead of an answer (connection refused, reset). */
export const NETWORK_ERROR = Symbol("network error");

export type Answer = MockReply | typeof NETWORK_ERROR | undefined;

export interface MockFleetJob {
  readonly id: string;
  readonly bodyMd: string;
  readonly title?: string;
  readonly options?: Record<string, unknown>;
  readonly leaseEpoch?: number;
}

/** What a call is, for filtering: "heartbeat", "claim", "report", "renew", "release" or "other". */
export function kindOf(
  request: Pick<FleetRequest, "method" | "path">,
): "heartbeat" | "claim" | "report" | "renew" | "release" | "other" {
  const { method, path } = request;
  if (method === "POST" && path === "/api/fleet/factories/heartbeat") return "heartbeat";
  if (method === "POST" && path === "/api/fleet/claim") return "claim";
  if (method === "PATCH" && /^\/api\/fleet\/jobs\/[^/]+$/.test(path)) return "report";
  if (method === "POST" && /^\/api\/fleet\/jobs\/[^/]+\/lease\/renew$/.test(path)) return "renew";
  if (method === "POST" && /^\/api\/fleet\/jobs\/[^/]+\/lease\/release$/.test(path)) return "release";
  return "other";
}

/**
 * A scriptable coordinator behind undici's MockAgent (installed with useDispatcher): it records
 * every request and answers like docs/design.md ("The fleet plugin") — heartbeat 200, claim hands out `jobs` one by one
 * (then 204), PATCH/renew/release 200 — unless `answer` returns something else for a request.
 */
export class MockCoordinator {
  readonly agent = new MockAgent();
  readonly requests: FleetRequest[] = [];
  /** Jobs still to hand out on claim. */
  readonly jobs: MockFleetJob[];
  /** Overrides the default answer when it returns a reply (or NETWORK_ERROR). */
  answer: (request: FleetRequest) => Answer | Promise<Answer> = () => undefined;
  /** The leaseExpiresAt values handed out by renew, in order. */
  readonly renewedUntil: string[] = [];

  /** Requests to other origins (a tracker) on the same agent, answered 201. */
  readonly elsewhere: FleetRequest[] = [];

  constructor(jobs: MockFleetJob[] = [], origin = MOCK_ORIGIN) {
    this.jobs = [...jobs];
    this.agent.disableNetConnect();
    this.agent
      .get(origin)
      .intercept({ path: () => true, method: () => true })
      // An async callback: its rejection reaches the client as a network error and keeps the intercept.
      .reply(async (options) => {
        const { body, json } = bodyOf(options.body);
        const headers = Object.fromEntries(
          Object.entries((options.headers ?? {}) as Record<string, string>).map(([k, v]) => [
            k.toLowerCase(),
            String(v),
          ]),
        );
        const request: FleetRequest = {
          method: options.method,
          path: options.path,
          headers,
          body,
          json,
          at: Date.now(),
        };
        this.requests.push(request);
        const reply = (await this.answer(request)) ?? this.standard(request);
        if (reply === NETWORK_ERROR)
          throw Object.assign(new Error("connect ECONNREFUSED (mock)"), { code: "ECONNREFUSED" });
        const data =
          reply.data === undefined ? "" : typeof reply.data === "string" ? reply.data : JSON.stringify(reply.data);
        const type = typeof reply.data === "object" ? { "content-type": "application/json" } : {};
        return { statusCode: reply.statusCode, data, responseOptions: { headers: { ...type, ...reply.headers } } };
      })
      .persist();
  }

  /** Also answers (201, recorded in `elsewhere`) every request to another origin, e.g. a tracker. */
  alsoServe(origin: string): this {
    this.agent
      .get(origin)
      .intercept({ path: () => true, method: () => true })
      .reply((options) => {
        const { body, json } = bodyOf(options.body);
        this.elsewhere.push({ method: options.method, path: options.path, headers: {}, body, json, at: Date.now() });
        return { statusCode: 201, data: "{}", responseOptions: { headers: { "content-type": "application/json" } } };
      })
      .persist();
    return this;
  }

  /** Makes every fleet client created from now on talk to this mock. */
  install(): this {
    useDispatcher(this.agent);
    return this;
  }

  async close(): Promise<void> {
    useDispatcher(undefined);
    await this.agent.close();
  }

  /** The answer of a coordinator that agrees with everything. */
  standard(request: FleetRequest): MockReply {
    switch (kindOf(request)) {
      case "heartbeat":
        return { statusCode: 200, data: { ok: true, claimable: this.jobs.length } };
      case "claim": {
        const job = this.jobs.shift();
        if (!job) return { statusCode: 204 };
        const { leaseEpoch = 1, ...rest } = job;
        return {
          statusCode: 200,
          data: { job: rest, leaseEpoch, leaseExpiresAt: new Date(Date.now() + 60_000).toISOString() },
        };
      }
      case "renew": {
        const until = new Date(Date.now() + 60_000 + this.renewedUntil.length).toISOString();
        this.renewedUntil.push(until);
        return { statusCode: 200, data: { ok: true, leaseExpiresAt: until } };
      }
      case "report":
      case "release":
        return { statusCode: 200, data: { ok: true } };
      default:
        return { statusCode: 404, data: { error: "no route" } };
    }
  }

  of(kind: ReturnType<typeof kindOf>): FleetRequest[] {
    return this.requests.filter((request) => kindOf(request) === kind);
  }

  /** The calls other than heartbeats, as "METHOD path", in order. */
  calls(options: { heartbeats?: boolean; renews?: boolean } = {}): string[] {
    return this.requests
      .filter(
        (request) =>
          (options.heartbeats || kindOf(request) !== "heartbeat") &&
          (options.renews !== false || kindOf(request) !== "renew"),
      )
      .map((request) => `${request.method} ${request.path}`);
  }
}

/** An intercepted request's body as text, and as JSON when it is JSON. */
function bodyOf(raw: unknown): { body: string; json: unknown } {
  const body = typeof raw === "string" ? raw : raw ? Buffer.from(raw as Uint8Array).toString() : "";
  try {
    return { body, json: body ? JSON.parse(body) : undefined };
  } catch {
    return { body, json: undefined };
  }
}
