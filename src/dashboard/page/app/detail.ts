/// <reference lib="dom" />
import type { HistoryEntry, JobMeta } from "../../../core/meta.ts";
import type { Stage } from "../../../core/stages.ts";
import { actionsFor } from "./actions.ts";
import { type JobDetail, jobPath, request } from "./api.ts";
import { loadDiff } from "./diff.ts";
import { $, clear, el, stageBadge } from "./dom.ts";
import { resetLog, tail } from "./log.ts";
import { state, view } from "./state.ts";
import { span, when } from "./time.ts";

export function openJob(id: string): void {
  state.open = id;
  resetLog();
  const box = $("detail");
  box.hidden = false;
  clear(box).appendChild(el("p", { class: "muted", text: `loading ${id}…` }));
  view.render();
  void loadDetail(true);
}

/** Reads the open job again and shows it; `fresh` when it was just opened (the log starts over). */
export async function loadDetail(fresh: boolean): Promise<void> {
  const id = state.open;
  if (!id) return;
  let job: JobDetail;
  try {
    job = await request<JobDetail>("GET", jobPath(id));
  } catch (error) {
    if (state.open === id) clear($("detail")).appendChild(el("p", { class: "bad", text: (error as Error).message }));
    return;
  }
  if (state.open !== id) return;
  renderDetail(job, fresh);
  await tail(fresh);
}

type Fact = [string, string | number | HTMLElement];

function factsOf(job: JobDetail): Fact[] {
  const meta = job.meta;
  const facts: Fact[] = [
    ["attempts", meta.attempts],
    ["priority", meta.priority],
    ["engine", job.engine],
    ["origin", meta.origin.kind],
    ["created", when(meta.createdAt)],
  ];
  // What plugins say of the job: its badges and their columns.
  for (const badge of job.badges ?? []) facts.push(["", badge]);
  for (const [name, value] of Object.entries(job.columns ?? {})) facts.push([name, value]);
  if (meta.wip) facts.push(["wip", `${meta.wip.branch} @ ${meta.wip.commit.slice(0, 12)}`]);
  if (meta.worktree) facts.push(["worktree", meta.worktree.path]);
  if (meta.lock) facts.push(["lock", meta.lock]);
  const agent = job.agent;
  if (agent) {
    for (const key of ["name", "model", "sessionId", "turns", "inputTokens", "outputTokens", "costUsd"] as const) {
      const value = agent[key];
      if (value === undefined || value === null) continue;
      facts.push([`agent ${key}`, key === "costUsd" ? `$${Number(value).toFixed(4)}` : value]);
    }
    if (agent.lastActivityAt) facts.push(["last activity", when(agent.lastActivityAt)]);
  }
  return facts;
}

function renderDetail(job: JobDetail, fresh: boolean): void {
  const box = $("detail");
  const meta = job.meta;
  const oldLog = fresh ? null : box.querySelector("pre.log");
  const openPrompt = box.querySelector("details[open]");
  const oldDiff = fresh ? null : box.querySelector("#diff");
  const keepDiff = oldDiff?.getAttribute("data-stage") === job.stage;
  clear(box);
  box.setAttribute("data-id", job.id);
  box.setAttribute("data-stage", job.stage);
  const close = () => {
    state.open = null;
    box.hidden = true;
    view.render();
  };
  box.appendChild(el("button", { type: "button", class: "close", text: "×", title: "close", onclick: close }));
  box.appendChild(el("h2", null, el("span", { class: "id", text: job.id }), " ", stageBadge(job.stage)));
  if (meta.reason) box.appendChild(el("p", { class: "bad", text: meta.reason }));
  box.appendChild(el("div", { class: "actions" }, actionsFor(job, false)));
  const fact = ([label, value]: Fact) =>
    el(
      "span",
      null,
      label ? `${label} ` : "",
      typeof value === "object" ? el("b", null, value) : el("b", { text: value }),
    );
  box.appendChild(el("div", { class: "facts" }, factsOf(job).map(fact)));
  box.appendChild(renderDurations(meta));
  box.appendChild(keepDiff && oldDiff ? oldDiff : el("section", { id: "diff", "data-stage": job.stage }));
  box.appendChild(el("h2", { text: "History" }));
  box.appendChild(el("ol", { class: "timeline" }, meta.history.map(historyItem)));
  box.appendChild(el("h2", { text: "Log " }, el("span", { class: "muted", id: "log-size", text: "" })));
  box.appendChild(oldLog ?? el("pre", { class: "log", id: "log" }));
  if (!keepDiff) loadDiff(job.id);
  if (job.prompt !== undefined) {
    box.appendChild(
      el(
        "details",
        { open: Boolean(openPrompt) },
        el("summary", { text: "job.md" }),
        el("pre", { class: "prompt", text: job.prompt }),
      ),
    );
  }
}

function historyItem(h: HistoryEntry): HTMLElement {
  return el(
    "li",
    { class: `s-${h.to}` },
    when(h.at),
    el("b", { text: `${h.from || "·"} → ${h.to}` }),
    ` by ${h.by}`,
    h.reason ? el("div", { class: "muted", text: h.reason }) : null,
  );
}

interface Attempt {
  readonly n: number;
  readonly claimed: string;
  readonly waited: number;
  build: number | null;
  buildFrom: string | null;
  end: string | null;
  outcome: Stage | null;
  reason: string | null;
}

/**
 * Each attempt from the history: it starts when the job is claimed (queued → assigned) and ends
 * when it leaves assigned/building; the time in the queue before it and the engine's time in it.
 */
function attemptsOf(history: readonly HistoryEntry[]): Attempt[] {
  const attempts: Attempt[] = [];
  let queuedSince = history[0]?.at ?? null;
  let current: Attempt | null = null;
  for (const h of history) {
    const t = Date.parse(h.at);
    if (h.from === "queued" && h.to === "assigned") {
      const waited = queuedSince ? t - Date.parse(queuedSince) : 0;
      const n = attempts.length + 1;
      current = { n, claimed: h.at, waited, build: null, buildFrom: null, end: null, outcome: null, reason: null };
      attempts.push(current);
    } else if (current && h.to === "building") {
      current.buildFrom = h.at;
    } else if (current && (h.from === "assigned" || h.from === "building")) {
      current.end = h.at;
      current.outcome = h.to;
      current.reason = h.reason || null;
      if (current.buildFrom) current.build = t - Date.parse(current.buildFrom);
      current = null;
    }
    if (h.to === "queued") queuedSince = h.at;
  }
  if (current?.buildFrom) current.build = Date.now() - Date.parse(current.buildFrom);
  return attempts;
}

/** Time in the queue, build time and each attempt, from the history. */
function renderDurations(meta: JobMeta): HTMLElement {
  const attempts = attemptsOf(meta.history);
  const box = el("section", { id: "durations" });
  if (!attempts.length) {
    const waited = span(Date.now() - Date.parse(meta.createdAt));
    box.appendChild(el("div", { class: "facts" }, el("span", null, "in the queue ", el("b", { text: waited }))));
    return box;
  }
  const build = attempts.reduce((sum, a) => sum + (a.build || 0), 0);
  box.appendChild(
    el(
      "div",
      { class: "facts" },
      el("span", null, "waited in the queue ", el("b", { id: "queue-wait", text: span(attempts[0]!.waited) })),
      el("span", null, "build time ", el("b", { id: "build-time", text: span(build) })),
      el("span", null, "attempts ", el("b", { text: String(attempts.length) })),
    ),
  );
  const head = ["#", "claimed", "waited", "built", "then"].map((text) => el("th", { text }));
  box.appendChild(
    el(
      "table",
      { class: "attempts" },
      el("thead", null, el("tr", null, head)),
      el(
        "tbody",
        null,
        attempts.map((a) =>
          el(
            "tr",
            { "data-attempt": a.n },
            el("td", { text: String(a.n) }),
            el("td", null, when(a.claimed)),
            el("td", { text: span(a.waited) }),
            el("td", { text: a.build === null ? "" : span(a.build) + (a.end ? "" : " so far") }),
            el(
              "td",
              { class: "reason" },
              a.outcome ? stageBadge(a.outcome) : el("span", { class: "muted", text: "running" }),
              a.reason ? ` ${a.reason}` : "",
            ),
          ),
        ),
      ),
    ),
  );
  return box;
}
