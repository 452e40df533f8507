import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import { startAq, waitFor } from "./cli.ts";
import { jsonOf } from "./fleet-world.ts";

export interface RunningDashboard {
  /** The URL the dashboard printed first, e.g. http://127.0.0.1:41234/ */
  readonly url: string;
  readonly process: ReturnType<typeof startAq>;
  /** The page's action token, read from its <meta name="aq-token">. */
  token(): Promise<string>;
  /** A JSON request to a path under the URL; the answer's status, JSON body and headers. */
  get(path: string, headers?: Record<string, string>): Promise<Answer>;
  /** An action as the page sends it (JSON body, the page's token), unless `headers` say otherwise. */
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export interface Answer {
  readonly status: number;
  readonly body: any;
  readonly text: string;
  readonly headers: Headers;
}

/** `aq dashboard --port 0` as a real process in `dir` (its config picks the queue); stopped when the test ends. */
export async function startDashboard(
  dir: string,
  options: { args?: readonly string[]; env?: Record<string, string | undefined> } = {},
): Promise<RunningDashboard> {
  const child = startAq(["dashboard", "--port", "0", ...(options.args ?? [])], { cwd: dir, env: options.env ?? {} });
  let stopped: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
  const stop = () => {
    if (!stopped) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      stopped = child.exited;
    }
    return stopped;
  };
  onTestFinished(async () => {
    await stop();
  });
  const url = await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`aq dashboard exited ${child.exitCode}: ${child.output().stderr}`);
      const line = child.output().stdout.split("\n");
      return line.length > 1 ? line[0] : undefined;
    },
    20_000,
    "the dashboard's URL on stdout",
  );
  let token: string | undefined;
  const base = url.replace(/\/$/, "").replace("0.0.0.0", "127.0.0.1");
  const request = async (
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
  ): Promise<Answer> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      redirect: "manual",
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: jsonOf(text), text, headers: response.headers };
  };
  const dashboard: RunningDashboard = {
    url,
    process: child,
    async token() {
      token ??= pageToken((await request("GET", "/", undefined, {})).text);
      return token;
    },
    get: (path, headers = {}) => request("GET", path, undefined, headers),
    async post(path, body = {}, headers) {
      return request(
        "POST",
        path,
        body,
        headers ?? { "content-type": "application/json", "x-aq-token": await dashboard.token() },
      );
    },
    stop,
  };
  return dashboard;
}

export function pageToken(html: string): string {
  const token = /<meta name="aq-token" content="([^"]+)">/.exec(html)?.[1];
  if (!token) throw new Error("the page carries no aq-token meta");
  return token;
}

/** Reads server-sent events from `url` until `until` accepts one; answers the events seen. */
export async function readEvents(
  url: string,
  until: (event: { event: string; data: any }) => boolean,
  timeoutMs = 15_000,
): Promise<Array<{ event: string; data: any }>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const seen: Array<{ event: string; data: any }> = [];
  try {
    const response = await fetch(url, { signal: controller.signal, headers: { accept: "text/event-stream" } });
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (!event || data === undefined) continue;
        const parsed = { event, data: JSON.parse(data) };
        seen.push(parsed);
        if (until(parsed)) return seen;
      }
    }
    throw new Error(`the event stream ended; saw ${JSON.stringify(seen)}`);
  } catch (error) {
    if (controller.signal.aborted)
      throw new Error(`no matching event within ${timeoutMs} ms; saw ${JSON.stringify(seen)}`);
    throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

const SPREAD = ["queued", "review", "shipped", "failed", "blocked", "quarantine", "dead_letter", "testing"] as const;

/**
 * Writes `count` jobs straight onto disk (job.md and meta.json, as the store would), spread over
 * the stages in turn: fast enough for tens of thousands. Answers the ids per stage.
 */
export function writeManyJobs(
  queue: string,
  count: number,
  stages: readonly string[] = SPREAD,
): Record<string, string[]> {
  const at = Date.now();
  const ids: Record<string, string[]> = {};
  for (let i = 0; i < count; i++) {
    const stage = stages[i % stages.length]!;
    const id = `job-${String(i).padStart(5, "0")}`;
    const dir = join(queue, stage, id);
    mkdirSync(dir, { recursive: true });
    const createdAt = new Date(at + i).toISOString();
    writeFileSync(join(dir, "job.md"), "---\nengine: shell\n---\ntrue\n");
    const history = [
      { from: null, to: "queued", at: createdAt, by: "test" },
      ...(stage === "queued" ? [] : [{ from: "queued", to: stage, at: createdAt, by: "test" }]),
    ];
    const reason = ["failed", "blocked", "quarantine", "dead_letter"].includes(stage)
      ? { reason: `reason of ${id}` }
      : {};
    writeFileSync(
      join(dir, "meta.json"),
      JSON.stringify({ id, stage, attempts: 1, priority: 0, createdAt, origin: { kind: "local" }, history, ...reason }),
    );
    (ids[stage] ??= []).push(id);
  }
  return ids;
}
