import type { ResolvedConfig } from "../config/load.ts";
import type { RunnerHooks, StatusReport } from "../core/hooks.ts";
import type { Logger } from "../core/logger.ts";
import type { JobRecord, BrokenJob } from "../core/queue-store.ts";
import type { Stage } from "../core/stages.ts";
import type { JobMeta } from "../core/meta.ts";
import type { MaterializeInput } from "../core/materialize.ts";

/** What a plugin may read of the queue; it changes jobs only through hook answers. */
export interface QueueReader {
  readonly root: string;
  get(id: string): Promise<JobRecord>;
  list(stages?: readonly Stage[]): Promise<{ jobs: JobRecord[]; broken: BrokenJob[] }>;
  /** Writes a job into queued/ (`aq add --from-tracker`); validated like any job file. */
  enqueue(input: MaterializeInput): Promise<JobRecord>;
  /**
   * Changes keys of a job's meta.json that the plugin owns (an outbox, a lease): `patch` gets
   * the current meta and returns the keys to set. Serialized with every other write of that job.
   */
  updateMeta(id: string, patch: (meta: JobMeta) => Record<string, unknown>): Promise<JobMeta>;
  /** Runs `fn` while holding a lock of this plugin's, named `key`, across every aq process on this queue. */
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

/** A command a plugin adds to the CLI (`aq fleet-status`). */
export interface PluginCommand {
  readonly description: string;
  readonly args?: Record<
    string,
    {
      type: "string" | "boolean" | "positional";
      description?: string;
      required?: boolean;
      default?: string | boolean;
      valueHint?: string;
    }
  >;
  /** The command only reads the queue: it then creates nothing on disk (no queue skeleton). */
  readonly readOnly?: boolean;
  run(args: Record<string, unknown>): Promise<number | undefined> | number | undefined;
}

/** The `aq` object a plugin's apply() receives: hooks, a tagged logger, and a few narrow doors. */
export interface PluginApi {
  readonly hooks: RunnerHooks;
  readonly logger: Logger;
  readonly config: ResolvedConfig;
  readonly queue: QueueReader;
  readonly env: Readonly<NodeJS.ProcessEnv>;
  /** The engine table (built-ins and config), read-only: what this host can run. */
  readonly engines: Readonly<Record<string, { readonly command: readonly string[] }>>;
  registerCommand(name: string, command: PluginCommand): void;
  /** Environment variables this plugin holds secrets in: never given to engines, setup or test commands. */
  withholdEnv(...names: string[]): void;
  /**
   * The loaded plugin that declared this origin kind (`origins`), if any: it brings such jobs in
   * and tells the world about them itself, so an echo plugin leaves their echo to it.
   */
  originOwner(kind: string): string | undefined;
  extendStatus(extend: (status: StatusReport) => StatusReport | Promise<StatusReport>): void;
}

/**
 * A schema for a plugin's options: any Standard Schema (https://standardschema.dev), which every
 * valibot schema is — the `v` that agent-queue exports, or the project's own copy of valibot, or
 * zod or arktype. Typed by its shape, so `apply` gets the schema's output type whichever copy made it.
 */
export interface OptionsSchema<Output = unknown> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => OptionsResult<Output> | Promise<OptionsResult<Output>>;
    readonly types?: { readonly input: unknown; readonly output: Output } | undefined;
  };
}

export type OptionsResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
      readonly issues: ReadonlyArray<{
        readonly message: string;
        readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
      }>;
    };

export interface AqPlugin<Options = Record<string, unknown>> {
  readonly name: string;
  /** Plugins that must be loaded too; loading fails with one line if one is missing. */
  readonly dependencies?: readonly string[];
  /** Environment variables that hold this plugin's secrets: withheld from engines, setup and test commands. */
  readonly secretEnv?: readonly string[];
  /** Origin kinds of the jobs this plugin brings in (meta.origin.kind) and whose stage echo it delivers. */
  readonly origins?: readonly string[];
  /** A schema for the options (valibot's `v.strictObject({...})`); checked before apply() runs. */
  readonly options?: OptionsSchema<Options>;
  apply(aq: PluginApi, options: Options): void | Promise<void>;
}

/** Types for a plugin; returns it unchanged, so a plain object of the same shape works too. */
export function definePlugin<Options = Record<string, unknown>>(plugin: AqPlugin<Options>): AqPlugin<Options> {
  return plugin;
}

/**
 * How a plugin is turned on, declared where it can be read without importing the plugin: its
 * env variable (set and non-empty, it wins: "0" is off, a value of `on` is on, anything else is
 * bad input) and, with the env unset, its `option` set to true in the config.
 */
export interface PluginSwitch {
  readonly env: string;
  readonly on: readonly string[];
  readonly option: string;
}

/** A plugin that ships with aq: on unless listed with false, or, with a switch, only when it is on. */
export interface BuiltinPlugin {
  readonly name: string;
  readonly switch?: PluginSwitch;
  load(): Promise<Record<string, unknown>>;
}
