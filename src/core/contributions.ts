import type { JobMeta } from "./meta.ts";
import type { Stage } from "./stages.ts";

/**
 * What plugins add to `aq status` and `aq dashboard`. The core and the page render these shapes
 * and nothing else: a plugin's own data reaches a person only as facts, tables, columns and badges.
 */

/** How a fact or a cell should read: a good sign, something to watch, something wrong. */
export type Tone = "ok" | "warn" | "bad";

/** One labelled value of a panel ("health: degraded"). */
export interface PanelFact {
  readonly label: string;
  readonly value: string;
  readonly tone?: Tone | undefined;
}

/**
 * How a table column renders its cells: `text` as it is, `job` a local job id (the row opens
 * that job), `stage` a stage's badge, `time` an ISO time shown as "5m ago" / "in 2m".
 */
export type ColumnKind = "text" | "job" | "stage" | "time";

export interface PanelColumn {
  readonly label: string;
  readonly kind?: ColumnKind | undefined;
}

export type PanelCell = string | number | null;

export interface PanelTable {
  readonly columns: readonly PanelColumn[];
  /** One array of cells per row, in the order of `columns`; null is an empty cell. */
  readonly rows: ReadonlyArray<readonly PanelCell[]>;
}

/** A box of the dashboard beside the queue: a title, facts, and tables. */
export interface Panel {
  readonly title: string;
  readonly facts?: readonly PanelFact[] | undefined;
  readonly tables?: readonly PanelTable[] | undefined;
}

/** The dashboard's panels, keyed by the name of the plugin that gives each one. */
export type DashboardPanels = Record<string, Panel>;

/** What a plugin adds to one job's row of `aq status` and of the dashboard's jobs table. */
export interface JobContribution {
  /** Short cells by column name (`{ tier: "urgent" }`); a column shows when a row listed has it. */
  readonly columns?: Readonly<Record<string, string>> | undefined;
  /** Short labels that say what the job is to a plugin, shown with the job ("urgent", "J7"). */
  readonly badges?: readonly string[] | undefined;
}

/**
 * One job of `aq status --json`. Plugins may add fields of their own besides columns and badges
 * (they appear in `--json` as given); the core never reads them.
 */
export interface StatusJob extends JobContribution {
  readonly id: string;
  readonly stage: Stage;
  readonly origin: JobMeta["origin"];
  readonly reason?: string;
  readonly attempts: number;
  readonly priority: number;
  /** The job's named lock, if it has one. */
  readonly lock?: string;
  /** A retry waiting on its backoff is not claimable before this time. */
  readonly notBefore?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** What the agent CLI reported: its session, tokens and last activity. */
  readonly agent?: JobMeta["agent"];
  readonly [field: string]: unknown;
}

export interface StatusReport {
  /** This host's name among factories, when a plugin knows one. */
  factoryId?: string;
  counts: Record<Stage, number>;
  jobs: StatusJob[];
  broken: Array<{ id: string; stage: Stage; problem: string }>;
  /** Lines plugins add to the human-readable status (one per line). */
  notes: string[];
  [extension: string]: unknown;
}
