/// <reference lib="dom" />
import { $, clear, el } from "../../../dashboard/page/app/dom.ts";
import { get, type Timeline } from "./api.ts";
import { stageBadge, when } from "./time.ts";

/** Runs and events of a job, in time order: a reclaim shows as a second run under a new epoch. */
export async function loadTimeline(id: string, stillOpen: () => boolean): Promise<void> {
  let t: Timeline;
  try {
    t = await get<Timeline>(`/ui/api/jobs/${encodeURIComponent(id)}`);
  } catch (error) {
    clear($("timeline")).appendChild(el("p", { class: "bad", text: (error as Error).message }));
    return;
  }
  if (!stillOpen()) return;
  const items: Array<{ at: string | null; node: HTMLElement }> = [];
  for (const r of t.runs) {
    const node = el(
      "li",
      { class: "run", "data-run": r.leaseEpoch },
      when(r.startedAt),
      el("b", { text: `run under epoch ${r.leaseEpoch}` }),
      ` by ${r.factoryId}${r.endedAt ? " · ended " : " · running"}`,
      r.endedAt ? when(r.endedAt) : null,
      r.outcome ? ` · ${r.outcome}` : "",
    );
    items.push({ at: r.startedAt, node });
  }
  for (const e of t.events) {
    const node = el(
      "li",
      { class: `s-${e.stage || e.type}`, "data-event": e.type },
      when(e.at),
      el("b", { text: e.type + (e.stage ? ` → ${e.stage}` : "") }),
      (e.leaseEpoch !== null ? ` · epoch ${e.leaseEpoch}` : "") + (e.factoryId ? ` · ${e.factoryId}` : ""),
      e.detail ? el("div", { class: "muted", text: e.detail }) : null,
    );
    items.push({ at: e.at, node });
  }
  items.sort((a, b) => Date.parse(a.at ?? "") - Date.parse(b.at ?? ""));
  const box = clear($("timeline"));
  box.hidden = false;
  box.setAttribute("data-id", id);
  box.appendChild(
    el(
      "h2",
      null,
      "Timeline of ",
      el("span", { class: "id", text: id }),
      " ",
      stageBadge(t.stage),
      ` epoch ${t.leaseEpoch}`,
    ),
  );
  box.appendChild(
    el(
      "ol",
      { class: "timeline" },
      items.map((item) => item.node),
    ),
  );
}
