export { defineConfig } from "./config/define.ts";
export type { UserConfig, EngineConfig, PluginEntry } from "./config/schema.ts";
export type { ResolvedConfig } from "./config/load.ts";
export { definePlugin } from "./plugin/define.ts";
export type { AqPlugin, PluginApi, PluginCommand, QueueReader } from "./plugin/define.ts";
export { FencedError, AqError, AqHookError, oneLine } from "./core/errors.ts";
export type * from "./core/hooks.ts";
export type { JobMeta, HistoryEntry, Origin } from "./core/meta.ts";
export type { Stage } from "./core/stages.ts";
export { STAGES } from "./core/stages.ts";
export type { MaterializeInput } from "./core/materialize.ts";
export { checkJobInput } from "./core/materialize.ts";
export { formatIssues } from "./core/validation.ts";
export { parseDuration } from "./core/duration.ts";
export type { Logger } from "./core/logger.ts";
export type { OptionsSchema } from "./plugin/define.ts";
/** valibot, the schema library aq validates with: `import { definePlugin, v } from "agent-queue"` needs no install of its own. */
export * as v from "valibot";
