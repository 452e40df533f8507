/// <reference lib="dom" />
import type { JobRow } from "../../snapshot.ts";
import { actionsFor } from "./actions.ts";
import { $, clear, el, fmt, stageBadge } from "./dom.ts";
import { PAGE, state, view } from "./state.ts";
import { when } from "./time.ts";

/** The table's own columns around the plugins' ones (inserted before `reason`); the class hides some on a phone. */
const BEFORE = [
  ["id", ""],
  ["stage", ""],
  ["since", "c-age"],
  ["pri", "c-pri"],
  ["tries", "c-tries"],
  ["engine", "c-engine"],
  ["origin", "c-origin"],
] as const;
const AFTER = [
  ["reason", ""],
  ["activity", "c-activity"],
  ["", ""],
] as const;

/** The columns plugins give the rows shown, in the order they first appear. */
function pluginColumns(rows: readonly JobRow[]): string[] {
  const names = new Set<string>();
  for (const job of rows) for (const name of Object.keys(job.columns ?? {})) names.add(name);
  return [...names];
}

function rowOf(job: JobRow, extra: readonly string[]): HTMLElement {
  const needsPerson = job.stage === "quarantine" || job.stage === "blocked";
  return el(
    "tr",
    {
      "data-id": job.id,
      "data-stage": job.stage,
      class: (job.id === state.open ? "selected " : "") + (needsPerson ? "first" : ""),
      onclick: () => view.openJob(job.id),
    },
    el(
      "td",
      { class: "id" },
      job.id,
      (job.badges ?? []).map((text) => el("span", { class: "badge", text })),
    ),
    el("td", null, stageBadge(job.stage)),
    el("td", { class: "c-age" }, when(job.updatedAt)),
    el("td", { class: "c-pri", text: String(job.priority) }),
    el("td", { class: "c-tries", text: String(job.attempts) }),
    el("td", { class: "c-engine", text: job.engine || "" }),
    el("td", { class: "c-origin", text: job.origin.kind }),
    extra.map((name) => el("td", { class: "c-plugin", "data-column": name, text: job.columns?.[name] ?? "" })),
    el("td", { class: "reason", text: job.reason || "" }),
    el("td", { class: "c-activity" }, job.lastActivityAt ? when(job.lastActivityAt) : null),
    el("td", { class: "actions" }, actionsFor(job, true)),
  );
}

export function renderRows(): void {
  const extra = pluginColumns(state.rows);
  const header = (pair: readonly [string, string]) => el("th", { class: pair[1] || null, text: pair[0] });
  clear($("head")).appendChild(
    el(
      "tr",
      null,
      BEFORE.map(header),
      extra.map((name) => el("th", { class: "c-plugin", "data-column": name, text: name })),
      AFTER.map(header),
    ),
  );
  const body = clear($("rows"));
  for (const job of state.rows) body.appendChild(rowOf(job, extra));
  if (!state.rows.length) {
    const text = state.summary?.total ? "no job matches" : "the queue is empty: add one with aq add FILE";
    const colspan = BEFORE.length + extra.length + AFTER.length;
    body.appendChild(el("tr", null, el("td", { colspan, class: "muted", text })));
  }
  const first = state.total ? state.offset + 1 : 0;
  $("range").textContent = `${fmt(first)}–${fmt(state.offset + state.rows.length)} of ${fmt(state.total)}`;
  if (state.rows.length && !performance.getEntriesByName("aq-first-rows").length) performance.mark("aq-first-rows");
  ($("prev") as HTMLButtonElement).disabled = state.offset === 0;
  ($("next") as HTMLButtonElement).disabled = state.offset + PAGE >= state.total;
}
