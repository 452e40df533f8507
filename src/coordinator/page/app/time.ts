/// <reference lib="dom" />
import { el } from "../../../dashboard/page/app/dom.ts";

function span(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${`0${s % 60}`.slice(-2)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** The one time format: how long ago or how soon, the exact time on hover. */
export function when(iso: string | null | undefined): HTMLElement {
  if (!iso) return el("span", { class: "muted", text: "—" });
  const d = Date.parse(iso) - Date.now();
  const title = `${new Date(iso).toLocaleString()} (${iso})`;
  return el("time", { datetime: iso, title, text: d > 1000 ? `in ${span(d)}` : `${span(d)} ago` });
}

export const stageBadge = (stage: string): HTMLElement => el("span", { class: `stage s-${stage}`, text: stage });
