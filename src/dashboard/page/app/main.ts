/// <reference lib="dom" />
/**
 * The dashboard's page: plain DOM, no framework, ES modules served by aq itself. It loads
 * /api/summary and one page of /api/jobs, then listens to /api/events and reloads what it shows
 * after each `change`; the open job's log is tailed from the byte where it stopped after each `job`
 * event. What plugins add (panels, columns, badges) is drawn from their generic shapes.
 */
import { STAGE_NAMES } from "../../../core/stages.ts";
import { toast } from "./actions.ts";
import { type JobsPage, request, type Summary } from "./api.ts";
import { loadDetail, openJob } from "./detail.ts";
import { $, el, liveEvents } from "./dom.ts";
import { tail } from "./log.ts";
import { renderAttention, renderCounts, renderNotes, renderPanels, renderRunners } from "./overview.ts";
import { renderRows } from "./rows.ts";
import { PAGE, state, view } from "./state.ts";

function render(): void {
  const summary = state.summary;
  if (!summary) return;
  $("queue").textContent = summary.queue + (summary.factoryId ? `  ·  factory ${summary.factoryId}` : "");
  renderCounts(summary);
  renderAttention(summary);
  renderPanels(summary);
  renderNotes(summary);
  renderRows();
  renderRunners(summary);
}

let loading = false;
let again = false;

/** Reloads the summary, the page of jobs and the open job; calls that come meanwhile are merged into one more. */
async function refresh(): Promise<void> {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  const query = new URLSearchParams({
    stage: state.stage,
    q: state.q,
    offset: String(state.offset),
    limit: String(PAGE),
  });
  try {
    const [summary, page] = await Promise.all([
      request<Summary>("GET", "/api/summary"),
      request<JobsPage>("GET", `/api/jobs?${query}`),
    ]);
    state.summary = summary;
    state.rows = page.jobs;
    state.total = page.total;
    if (state.offset > 0 && state.offset >= state.total) {
      state.offset = Math.max(0, Math.floor((state.total - 1) / PAGE) * PAGE);
      again = true;
    }
    render();
    if (state.open) await loadDetail(false);
  } catch (error) {
    toast(`cannot load: ${(error as Error).message}`, true);
  }
  loading = false;
  if (again) {
    again = false;
    void refresh();
  }
}

function setStage(stage: string): void {
  state.stage = stage;
  state.offset = 0;
  ($("stage") as HTMLSelectElement).value = stage;
  void refresh();
}

function listen(): void {
  const source = liveEvents("/api/events");
  let hellos = 0;
  source.addEventListener("hello", () => {
    if (hellos++ > 0) void refresh(); // a reconnect: catch up
  });
  source.addEventListener("change", () => void refresh());
  source.addEventListener("job", (event) => {
    const data = JSON.parse((event as MessageEvent<string>).data) as { id: string };
    if (data.id === state.open) tail(false).catch(() => {});
  });
}

function init(): void {
  Object.assign(view, { render, refresh: () => void refresh(), openJob, setStage });
  const select = $("stage") as HTMLSelectElement;
  const options: Array<[string, string]> = [
    ["active", "all but shipped"],
    ["all", "all"],
    ...STAGE_NAMES.map((stage): [string, string] => [stage, stage.replace("_", " ")]),
  ];
  for (const [value, text] of options) select.appendChild(el("option", { value, text }));
  select.addEventListener("change", () => setStage(select.value));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const search = $("search") as HTMLInputElement;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.q = search.value;
      state.offset = 0;
      void refresh();
    }, 250);
  });
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE);
    void refresh();
  });
  $("next").addEventListener("click", () => {
    state.offset += PAGE;
    void refresh();
  });
  setInterval(() => state.summary && renderRows(), 15_000);
  void refresh();
  listen();
}

init();
