import ky, { HTTPError, type KyInstance } from "ky";
import { setFlagsFromString } from "node:v8";
import type { Dispatcher } from "undici";
import * as v from "valibot";
import { formatIssues } from "../../src/index.ts";

export interface HttpSettings {
  /** Base URL of the API, e.g. http://localhost:4003/api */
  readonly baseUrl: string;
  readonly token?: string | undefined;
  readonly productId?: string | undefined;
  readonly timeoutMs: number;
  /** Retries for idempotent calls (GET) on network errors, 429 and 5xx; other calls are never retried. */
  readonly retries: number;
  /** An undici dispatcher (a MockAgent in tests); by default Node's own fetch and its keep-alive agent (see useDispatcher). */
  readonly dispatcher?: Dispatcher | undefined;
  /** Names the service in problems: "tracker", "coordinator". */
  readonly service: string;
}

export type HttpOutcome<T> =
  | { readonly ok: true; readonly status: number; readonly data: T }
  | {
      readonly ok: false;
      readonly status: number | undefined;
      /** One line, fit for a log: never a token, never a request body. */
      readonly problem: string;
      /** Worth trying again later (network, timeout, 429, 5xx); 4xx answers are not. */
      readonly transient: boolean;
      readonly retryAfterMs?: number | undefined;
    };

export interface HttpClient {
  request<S extends v.GenericSchema>(
    method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
    path: string,
    options: { json?: unknown; schema: S },
  ): Promise<HttpOutcome<v.InferOutput<S>>>;
}

let shared: Dispatcher | undefined;

/**
 * A dispatcher for every client made after this call (tests put a MockAgent here); undefined
 * goes back to Node's own fetch.
 */
export function useDispatcher(dispatcher: Dispatcher | undefined): void {
  shared = dispatcher;
}

/**
 * Node's fetch is undici, bundled in Node and already loaded by ky's use of `Request`: by default
 * the client adds nothing to a process (undici's package index is about 11 MiB more in every
 * factory). A dispatcher given is used through that package's own fetch, loaded on the first call.
 */
function fetchThrough(dispatcher: Dispatcher | undefined): typeof fetch {
  if (!dispatcher) return (input, init) => globalThis.fetch(input, init);
  let undici: Promise<typeof import("undici")> | undefined;
  return async (input, init) => {
    const { fetch } = await (undici ??= import("undici"));
    // ky hands over a Request of Node's fetch; the package's fetch takes its plain parts.
    const request = new Request(input, init);
    const answer = await fetch(request.url, {
      method: request.method,
      headers: Object.fromEntries(request.headers),
      body: request.body ? await request.text() : null,
      signal: request.signal,
      dispatcher,
    });
    const body = NULL_BODY.has(answer.status) ? null : await answer.text();
    return new Response(body, { status: answer.status, headers: Object.fromEntries(answer.headers) });
  };
}

let baseline = false;

/**
 * Node's fetch parses HTTP with llhttp compiled to WebAssembly. After a few calls V8 compiles it
 * again, optimized, on a background thread: about 150 ms of CPU and 13 MiB of RSS that a client
 * making a few calls a minute never earns back. A tiering budget no parser will spend keeps it
 * at V8's baseline tier; this flag is read when the module is compiled, on the first connection,
 * so it must be set before the process's first fetch (the command-line `--liftoff-only` is not
 * ours to set).
 */
function keepParserAtBaseline(): void {
  if (baseline) return;
  baseline = true;
  setFlagsFromString("--wasm-tiering-budget=1000000000");
}

/** Statuses whose Response has no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** An empty answer (204, or a body that is not JSON where none was expected). */
export const NoContent = v.unknown();

/**
 * ky over undici: bearer token and X-Product-Id on every call, a per-call timeout, bounded retries
 * with backoff for idempotent calls (ky honours Retry-After), and every answer validated. Never
 * throws for what the server does: the caller gets a typed outcome.
 */
export function createHttpClient(settings: HttpSettings): HttpClient {
  keepParserAtBaseline();
  const send = fetchThrough(settings.dispatcher ?? shared);
  const headers: Record<string, string> = { accept: "application/json" };
  if (settings.token) headers.authorization = `Bearer ${settings.token}`;
  if (settings.productId) headers["x-product-id"] = settings.productId;
  const api: KyInstance = ky.create({
    prefix: settings.baseUrl.endsWith("/") ? settings.baseUrl : `${settings.baseUrl}/`,
    headers,
    timeout: settings.timeoutMs,
    retry: {
      limit: settings.retries,
      methods: ["get"],
      statusCodes: [408, 429, 500, 502, 503, 504],
      backoffLimit: 5_000,
      maxRetryAfter: 30_000,
    },
    fetch: send,
  });
  return {
    async request(method, path, options) {
      const where = `${method} ${path}`;
      let response: Response;
      try {
        response = await api(path.replace(/^\//, ""), {
          method,
          // Only GET is retried: a limit of 0 also spares the copy of the body ky keeps for a retry.
          ...(method === "GET" ? {} : { retry: { limit: 0 } }),
          ...(options.json === undefined ? {} : { json: options.json }),
        });
      } catch (error) {
        if (error instanceof HTTPError) return httpProblem(settings.service, where, error.response);
        const name = (error as Error).name;
        if (name === "TimeoutError")
          return {
            ok: false,
            status: undefined,
            problem: `${settings.service} did not answer ${where} within ${settings.timeoutMs}ms`,
            transient: true,
          };
        return {
          ok: false,
          status: undefined,
          problem: `${settings.service} unreachable for ${where}: ${networkCause(error)}`,
          transient: true,
        };
      }
      const text = await response.text().catch(() => "");
      let json: unknown;
      if (text.trim() !== "") {
        try {
          json = JSON.parse(text);
        } catch {
          return {
            ok: false,
            status: response.status,
            problem: `${settings.service} answered ${where} with ${response.status} and a body that is not JSON (${describeBody(response, text)})`,
            transient: false,
          };
        }
      }
      const parsed = v.safeParse(options.schema, json);
      if (!parsed.success) {
        return {
          ok: false,
          status: response.status,
          problem: `${settings.service} answered ${where} with ${response.status} and an unexpected body: ${formatIssues(parsed.issues)}`,
          transient: false,
        };
      }
      return { ok: true, status: response.status, data: parsed.output };
    },
  };
}

function httpProblem(service: string, where: string, response: Response): HttpOutcome<never> {
  const status = response.status;
  const transient = status === 408 || status === 429 || status >= 500;
  const retryAfter = response.headers.get("retry-after");
  const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
  const retryAfterMs = Number.isFinite(seconds)
    ? seconds * 1000
    : retryAfter
      ? Math.max(0, Date.parse(retryAfter) - Date.now()) || undefined
      : undefined;
  const hint =
    status === 401 || status === 403 ? " (check the token and product id: this is a configuration problem)" : "";
  return { ok: false, status, problem: `${service} answered ${where} with ${status}${hint}`, transient, retryAfterMs };
}

function networkCause(error: unknown): string {
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause; depth++) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code !== "ERR_INVALID_STATE") return code;
    cause = (cause as { cause?: unknown }).cause;
  }
  return "network error";
}

function describeBody(response: Response, text: string): string {
  const type = response.headers.get("content-type") ?? "no content type";
  return `${type}, ${text.length} bytes`;
}
