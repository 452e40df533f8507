/// <reference lib="dom" />
import { el } from "./dom.ts";

export function ago(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** The one way the page shows a time: how long ago (or how soon), the exact time on hover. */
export function when(iso: string | undefined | null, prefix = ""): HTMLElement {
  if (!iso) return el("span", { text: "" });
  const t = Date.parse(iso);
  const text = t > Date.now() + 1000 ? `in ${span(t - Date.now())}` : `${ago(iso)} ago`;
  return el("time", { datetime: iso, title: exact(iso), text: prefix + text });
}

const EXACT = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  timeZoneName: "short",
});

const exact = (iso: string) => `${EXACT.format(new Date(iso))} (${iso})`;

/** A duration in ms as 850ms, 12s, 4m 05s, 2h 10m. */
export function span(ms: number): string {
  if (ms < 0 || !Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${`0${s % 60}`.slice(-2)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
