import { definePlugin, type StageEvent } from "../../src/index.ts";
import { OptionsSchema, PLUGIN_NAME, trackerSettings } from "./settings.ts";
import type { TrackerApi } from "./tracker-api.ts";

/** The comment a transition posts: ids and stages only, never the prompt. */
export function echoLine(event: StageEvent): string {
  const reason = event.reason ? ` (${event.reason.replace(/\s+/g, " ").slice(0, 200)})` : "";
  return `aq: job ${event.jobId} ${event.from ?? "new"} → ${event.to}${reason}`;
}

/**
 * Echoes every transition of a job that names a tracker item as a comment on that item, and
 * materializes jobs from tracker items (`aq add --from-tracker ITEM`). A tracker that is down,
 * slow or answers garbage is logged with the status code; it never fails a job or the runner.
 * Jobs of an origin another loaded plugin declares (fleet jobs, with the fleet on) are left to it.
 */
export default definePlugin({
  name: PLUGIN_NAME,
  secretEnv: ["AQ_TRACKER_TOKEN"],
  origins: ["tracker"],
  options: OptionsSchema,
  apply(aq, options) {
    const settings = trackerSettings(aq.env, options);
    const api = settings.api;
    let client: Promise<TrackerApi> | undefined;
    const tracker = () =>
      (client ??= import("./tracker-api.ts").then(({ TrackerApi }) => new TrackerApi({ ...settings, api: api! })));

    aq.hooks.onStage.tapPromise(PLUGIN_NAME, async (event) => {
      const item = event.meta.tracker;
      if (!item || !api) return;
      // A job another loaded plugin brought in (a fleet job) is echoed by that plugin.
      const owner = aq.originOwner(event.meta.origin.kind);
      if (owner !== undefined && owner !== PLUGIN_NAME) return;
      const result = await (await tracker()).comment(item, echoLine(event));
      if (!result.ok)
        aq.logger.warn(`echo of ${event.jobId} (${event.to}) to ${item} not delivered: ${result.problem}`);
    });

    aq.hooks.jobSource.tapPromise(PLUGIN_NAME, async (request) => {
      if (request.kind !== "tracker") return undefined;
      if (!api) return { problem: "AQ_TRACKER_API is not set, so tracker items cannot be read" };
      const result = await (await tracker()).item(request.ref);
      if (!result.ok) return { problem: result.problem };
      return {
        input: {
          title: result.data.title || `tracker ${request.ref}`,
          body: result.data.bodyMd,
          options: { tracker: request.ref },
          origin: { kind: "tracker", item: request.ref },
        },
      };
    });
  },
});
