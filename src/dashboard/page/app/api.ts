/// <reference lib="dom" />
import type { DashboardPanels, JobContribution, StatusReport } from "../../../core/contributions.ts";
import type { JobMeta } from "../../../core/meta.ts";
import type { Stage } from "../../../core/stages.ts";
import type { RunnerInfo } from "../../../core/status.ts";
import type { JobDiff } from "../../diff.ts";
import type { JobRow } from "../../snapshot.ts";

/** The answers of the dashboard's API (src/dashboard/routes.ts), as the page reads them. */
export type Summary = Pick<StatusReport, "factoryId" | "counts" | "broken" | "notes"> & {
  readonly queue: string;
  readonly version: number;
  readonly builtAt: string;
  readonly buildMs: number;
  readonly panels: DashboardPanels;
  readonly total: number;
  readonly runners?: RunnerInfo[];
};

export interface JobsPage {
  readonly version: number;
  readonly total: number;
  readonly offset: number;
  readonly limit: number;
  readonly jobs: JobRow[];
}

export interface JobDetail extends JobContribution {
  readonly id: string;
  readonly stage: Stage;
  readonly dir: string;
  readonly engine: string;
  readonly agent?: JobMeta["agent"];
  readonly meta: JobMeta;
  readonly logSize: number;
  readonly prompt?: string;
}

export interface LogChunk {
  readonly id: string;
  readonly stage: Stage;
  readonly from: number;
  readonly to: number;
  readonly size: number;
  readonly text: string;
}

export interface DiffAnswer {
  readonly id: string;
  readonly diff?: JobDiff | { readonly problem: string };
}

export interface ActionAnswer {
  readonly ok: true;
  readonly stage?: Stage;
}

const TOKEN = document.querySelector('meta[name="aq-token"]')?.getAttribute("content") ?? "";

/** A call to the API; an action carries the page's token. An answer that is not 2xx throws its `error`. */
export async function request<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  const init: RequestInit = { method, credentials: "same-origin", headers };
  if (method !== "GET") {
    headers["content-type"] = "application/json";
    headers["x-aq-token"] = TOKEN;
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetch(path, init);
  const data = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

export const jobPath = (id: string, tail = ""): string => `/api/jobs/${encodeURIComponent(id)}${tail}`;
