/// <reference lib="dom" />
import type { Panel, PanelCell, PanelColumn, PanelTable } from "../../../core/contributions.ts";
import { STAGE_NAMES } from "../../../core/stages.ts";
import type { Summary } from "./api.ts";
import { $, clear, el, fmt, stageBadge } from "./dom.ts";
import { state, view } from "./state.ts";
import { when } from "./time.ts";

/** One button per stage with its count; a click filters the table to it. */
export function renderCounts(summary: Summary): void {
  const box = clear($("counts"));
  for (const stage of STAGE_NAMES) {
    const n = summary.counts[stage] || 0;
    box.appendChild(
      el(
        "button",
        {
          type: "button",
          id: `count-${stage}`,
          "data-stage": stage,
          class: `count s-${stage}${n ? "" : " zero"}${state.stage === stage ? " selected" : ""}`,
          onclick: () => view.setStage(state.stage === stage ? "active" : stage),
        },
        el("b", { text: fmt(n) }),
        el("span", { text: stage.replace("_", " ") }),
      ),
    );
  }
}

export function renderAttention(summary: Summary): void {
  const c = summary.counts;
  const box = clear($("attention"));
  const parts: string[] = [];
  if (c.quarantine) parts.push(`${fmt(c.quarantine)} quarantined`);
  if (c.blocked) parts.push(`${fmt(c.blocked)} blocked`);
  if (c.failed) parts.push(`${fmt(c.failed)} failed`);
  if (c.dead_letter) parts.push(`${fmt(c.dead_letter)} dead-letter`);
  box.hidden = parts.length === 0;
  if (!parts.length) return;
  box.appendChild(el("b", { text: `Needs a person: ${parts.join(", ")}.` }));
  box.appendChild(
    document.createTextNode(
      " They are listed first; open one for its history, its changes and its log, then retry it, or block it with a reason.",
    ),
  );
  if (c.quarantine)
    box.appendChild(
      el("button", { type: "button", text: "show quarantined", onclick: () => view.setStage("quarantine") }),
    );
}

/** The plugins' panels, each under the name of its plugin: a title, facts, tables. */
export function renderPanels(summary: Summary): void {
  const box = clear($("panels"));
  for (const [name, panel] of Object.entries(summary.panels ?? {})) box.appendChild(panelOf(name, panel));
}

function panelOf(name: string, panel: Panel): HTMLElement {
  const facts = panel.facts ?? [];
  return el(
    "section",
    { class: "panel", "data-panel": name },
    el("h2", { text: panel.title }),
    facts.length
      ? el(
          "div",
          { class: "facts" },
          facts.map((fact) =>
            el("span", { "data-fact": fact.label }, `${fact.label} `, el("b", { class: fact.tone, text: fact.value })),
          ),
        )
      : null,
    (panel.tables ?? []).map(tableOf),
  );
}

function tableOf(table: PanelTable): HTMLElement {
  const job = table.columns.findIndex((column) => column.kind === "job");
  return el(
    "table",
    null,
    el(
      "thead",
      null,
      el(
        "tr",
        null,
        table.columns.map((column) => el("th", { text: column.label })),
      ),
    ),
    el(
      "tbody",
      null,
      table.rows.map((row) => {
        const id = job >= 0 ? row[job] : null;
        return el(
          "tr",
          { onclick: typeof id === "string" ? () => view.openJob(id) : null },
          table.columns.map((column, i) => cellOf(column, row[i] ?? null)),
        );
      }),
    ),
  );
}

function cellOf(column: PanelColumn, cell: PanelCell): HTMLElement {
  if (cell === null) return el("td");
  if (column.kind === "stage") return el("td", null, stageBadge(String(cell)));
  if (column.kind === "time") return el("td", null, when(String(cell)));
  return el("td", { class: column.kind === "job" ? "id" : null, text: String(cell) });
}

export function renderNotes(summary: Summary): void {
  const box = clear($("notes"));
  const lines = [...(summary.notes ?? [])];
  for (const b of summary.broken ?? []) lines.push(`!! ${b.stage}/${b.id}: ${b.problem}`);
  box.hidden = lines.length === 0;
  for (const line of lines) box.appendChild(el("div", { text: line }));
}

export function renderRunners(summary: Summary): void {
  const runners = summary.runners ?? [];
  const slots = (n: number) => `${n} slot${n === 1 ? "" : "s"}`;
  const who = runners.length
    ? `runners: ${runners.map((r) => `pid ${r.pid} (${r.mode}, ${slots(r.concurrency)})`).join(", ")}`
    : "no runner is working on this queue";
  $("runners").textContent = `${who} · snapshot ${summary.version} built in ${summary.buildMs} ms`;
}
