import * as v from "valibot";
import { createHttpClient, type HttpClient, type HttpOutcome, NoContent } from "../shared/http.ts";
import type { TrackerSettings } from "./settings.ts";

/** `GET /tracker/items/:item` answers this. */
export const ItemSchema = v.object({
  id: v.union([v.string(), v.number()]),
  title: v.optional(v.string(), ""),
  bodyMd: v.pipe(v.string(), v.nonEmpty("bodyMd is empty")),
});
export type TrackerItem = v.InferOutput<typeof ItemSchema>;

/** The tracker's two calls. This module pulls in ky and undici, so it is imported only on first use. */
export class TrackerApi {
  private readonly http: HttpClient;

  constructor(settings: TrackerSettings & { api: string }, dispatcher?: import("undici").Dispatcher) {
    this.http = createHttpClient({
      baseUrl: settings.api,
      token: settings.token,
      productId: settings.productId,
      timeoutMs: settings.timeoutMs,
      retries: settings.retries,
      dispatcher,
      service: "tracker",
    });
  }

  comment(item: string, body: string): Promise<HttpOutcome<unknown>> {
    return this.http.request("POST", `tracker/items/${encodeURIComponent(item)}/comments`, {
      json: { body },
      schema: NoContent,
    });
  }

  item(item: string): Promise<HttpOutcome<TrackerItem>> {
    return this.http.request("GET", `tracker/items/${encodeURIComponent(item)}`, { schema: ItemSchema });
  }
}
