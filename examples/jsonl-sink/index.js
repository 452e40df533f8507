// @ts-check
import { appendFile, mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { definePlugin, v } from "agent-queue";

const PLUGIN_NAME = "jsonl-sink";

/**
 * An example third-party sink, packaged as a plugin is published: every transition becomes one
 * JSON line in a file, an audit log a script can tail. It needs only the hooks and the options it
 * declares, and takes definePlugin and valibot (`v`) from agent-queue, its peer dependency.
 *
 *   plugins: [["aq-plugin-jsonl-sink", { path: "queue-events.jsonl" }]]
 */
export default definePlugin({
  name: PLUGIN_NAME,
  options: v.strictObject({
    /** Where the lines go, relative to the config file. */
    path: v.pipe(v.string("must be a file path"), v.nonEmpty("must be a file path")),
    /** Also write a line when a job comes to rest. */
    terminal: v.optional(v.boolean("must be true or false"), true),
  }),
  async apply(aq, options) {
    const file = resolve(aq.config.dir, options.path);
    await mkdir(dirname(file), { recursive: true });
    // Lines are appended in order: a transition's line is written before the next one starts.
    /** @param {string} type @param {import("agent-queue").StageEvent} event */
    const write = (type, event) =>
      appendFile(
        file,
        `${JSON.stringify({ type, at: new Date().toISOString(), job: event.jobId, from: event.from, to: event.to, reason: event.reason, by: event.by, attempts: event.meta.attempts })}\n`,
      );
    aq.hooks.onStage.tapPromise(PLUGIN_NAME, (event) => write("stage", event));
    if (options.terminal) aq.hooks.onTerminal.tapPromise(PLUGIN_NAME, (event) => write("terminal", event));
    aq.logger.debug(`writing events to ${file}`);
  },
});
