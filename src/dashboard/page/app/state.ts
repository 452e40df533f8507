/// <reference lib="dom" />
import type { JobRow } from "../../snapshot.ts";
import type { Summary } from "./api.ts";

/** Rows per page of the jobs table. */
export const PAGE = 50;

/** What the page shows now: the filter, the page of rows, the open job and the actions under way. */
export const state = {
  stage: "active",
  q: "",
  offset: 0,
  total: 0,
  rows: [] as JobRow[],
  summary: null as Summary | null,
  open: null as string | null,
  /** The job actions under way, by job id: their buttons are disabled until they answer. */
  busy: {} as Record<string, string>,
};

/**
 * What one part of the page asks of the whole: set by main.ts when the page starts, so the parts
 * need not import each other in a circle.
 */
export const view = {
  render: (): void => {},
  refresh: (): void => {},
  openJob: (_id: string): void => {},
  setStage: (_stage: string): void => {},
};
