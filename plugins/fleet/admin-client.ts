import { AqError } from "../../src/index.ts";

/** A few seconds: an operator waits at the terminal for these. */
const TIMEOUT_MS = 10_000;

/**
 * The coordinator's operator routes, for `aq fleet ...`: plain fetch (nothing to import), the
 * admin token, and the server's one-line reason when it refuses.
 */
export class AdminClient {
  private readonly api: string;
  private readonly token: string | undefined;

  constructor(api: string, token: string | undefined) {
    this.api = api.replace(/\/+$/, "");
    this.token = token;
  }

  async call<T = Record<string, unknown>>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
  ): Promise<{ status: number; data: T }> {
    const where = `${method} ${this.api}/${path}`;
    let response: Response;
    try {
      response = await fetch(`${this.api}/${path}`, {
        method,
        headers: {
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new AqError("AQ_FAILED", `coordinator unreachable for ${where}: ${cause}`);
    }
    const text = await response.text();
    let data: unknown;
    try {
      data = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      throw new AqError(
        "AQ_FAILED",
        `coordinator answered ${where} with ${response.status} and a body that is not JSON`,
      );
    }
    if (response.ok) return { status: response.status, data: data as T };
    const reason =
      typeof (data as { error?: unknown }).error === "string"
        ? (data as { error: string }).error
        : `status ${response.status}`;
    if (response.status === 401 || response.status === 403) {
      throw new AqError(
        "AQ_FAILED",
        `coordinator refused ${where} (${response.status}): ${reason}; set AQ_COORDINATOR_TOKEN to the coordinator's admin token`,
      );
    }
    if (response.status === 404) throw new AqError("AQ_NOT_FOUND", `coordinator: ${reason}`);
    if (response.status === 400) throw new AqError("AQ_BAD_USAGE", `coordinator: ${reason}`);
    throw new AqError("AQ_FAILED", `coordinator answered ${where} with ${response.status}: ${reason}`);
  }
}
