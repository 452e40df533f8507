/// <reference lib="dom" />
/**
 * The coordinator's fleet page: plain DOM, every text through textContent, ES modules served by the
 * coordinator itself. It loads /ui/api/fleet, listens to /ui/api/events and reloads after each
 * `change`; a click on a job opens its runs and events as one timeline.
 */
import { $, clear, el, liveEvents } from "../../../dashboard/page/app/dom.ts";
import { type FleetAnswer, get } from "./api.ts";
import { stageBadge, when } from "./time.ts";
import { loadTimeline } from "./timeline.ts";

const state = { data: null as FleetAnswer | null, stage: "all", open: null as string | null };

/** A factory not heard from for this long is marked. */
const SILENT_MS = 15 * 60 * 1000;

function renderFactories(data: FleetAnswer): void {
  const factories = clear($("factories"));
  for (const f of data.factories) {
    const seen = Date.now() - Date.parse(f.lastSeen ?? "");
    const leases = f.leases.map((l) => {
      const expired = Date.parse(l.leaseExpiresAt ?? "") < Date.now();
      return el(
        "span",
        { class: `lease${expired ? " bad" : ""}`, "data-lease": l.jobId },
        el("b", { text: l.jobId }),
        ` epoch ${l.leaseEpoch} · ${l.stage} · ${expired ? "expired " : "expires "}`,
        when(l.leaseExpiresAt),
      );
    });
    factories.appendChild(
      el(
        "tr",
        { "data-factory": f.id },
        el("td", { class: "id", text: f.id }),
        el("td", { class: f.health === "ok" ? "ok" : "warn", text: f.health }),
        el("td", { text: `${Math.round(f.load * 100)}%` }),
        el("td", { class: seen > SILENT_MS ? "bad" : "" }, when(f.lastSeen)),
        el("td", null, leases.length ? leases : el("span", { class: "muted", text: "none" })),
        el("td", { class: "caps wide", text: f.capabilities.join(", ") }),
      ),
    );
  }
  if (!data.factories.length)
    factories.appendChild(
      el("tr", null, el("td", { colspan: 6, class: "muted", text: "no factory has sent a heartbeat yet" })),
    );
}

function renderJobs(data: FleetAnswer): void {
  const counts: Record<string, number> = {};
  for (const j of data.jobs) counts[j.stage] = (counts[j.stage] ?? 0) + 1;
  const stages = clear($("stages"));
  for (const stage of ["all", ...Object.keys(counts).sort()]) {
    const onclick = () => {
      state.stage = stage;
      render();
    };
    const n = stage === "all" ? data.jobs.length : counts[stage];
    const selected = state.stage === stage ? "selected" : "";
    stages.appendChild(
      el("button", { type: "button", "data-stage": stage, class: selected, onclick }, `${stage} ${n}`),
    );
  }
  const jobs = clear($("jobs"));
  for (const j of data.jobs.filter((job) => state.stage === "all" || job.stage === state.stage)) {
    jobs.appendChild(
      el(
        "tr",
        {
          "data-id": j.id,
          "data-stage": j.stage,
          class: j.id === state.open ? "selected" : "",
          onclick: () => openJob(j.id),
        },
        el("td", { class: "id", text: j.id }),
        el("td", null, stageBadge(j.stage)),
        el("td", { text: String(j.leaseEpoch) }),
        el("td", { class: "id", text: j.factoryId || "" }),
        el("td", null, j.leaseExpiresAt ? when(j.leaseExpiresAt) : null),
        el("td", null, when(j.updatedAt)),
      ),
    );
  }
  if (!data.jobs.length)
    jobs.appendChild(
      el("tr", null, el("td", { colspan: 6, class: "muted", text: "no job yet: enqueue one with POST /api/dev/jobs" })),
    );
}

function render(): void {
  const data = state.data;
  if (!data) return;
  renderFactories(data);
  renderJobs(data);
  const factories = `${data.factories.length} factor${data.factories.length === 1 ? "y" : "ies"}`;
  $("summary").textContent = `${factories} · ${data.jobs.length} job${data.jobs.length === 1 ? "" : "s"}`;
}

function openJob(id: string): void {
  state.open = id;
  render();
  void timeline();
}

function timeline(): Promise<void> {
  const id = state.open;
  return id ? loadTimeline(id, () => state.open === id) : Promise.resolve();
}

let loading = false;
let again = false;

async function refresh(): Promise<void> {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    state.data = await get<FleetAnswer>("/ui/api/fleet");
    render();
    void timeline();
  } catch {
    // the next change event or tick tries again
  }
  loading = false;
  if (again) {
    again = false;
    void refresh();
  }
}

function listen(): void {
  const source = liveEvents("/ui/api/events");
  source.addEventListener("change", () => void refresh());
  source.addEventListener("hello", () => void refresh());
}

setInterval(() => state.data && render(), 5000);
listen();
