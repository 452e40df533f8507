/// <reference lib="dom" />
import type { fleetView, jobTimeline } from "../views.ts";

/** The answers of the fleet page's API (src/coordinator/page/views.ts), as the page reads them. */
export type FleetAnswer = Awaited<ReturnType<typeof fleetView>>;
export type Timeline = NonNullable<Awaited<ReturnType<typeof jobTimeline>>>;

export async function get<T>(path: string): Promise<T> {
  const response = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } });
  const body = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(body.error || String(response.status));
  return body;
}
