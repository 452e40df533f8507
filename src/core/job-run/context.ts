import type { ResolvedConfig } from "../config.ts";
import type { EngineDef } from "../engines.ts";
import type { RunnerHooks } from "../hooks.ts";
import type { Lifecycle } from "../lifecycle.ts";
import type { Logger } from "../logger.ts";
import type { Stage } from "../stages.ts";

export interface JobContext {
  readonly lifecycle: Lifecycle;
  readonly hooks: RunnerHooks;
  readonly logger: Logger;
  readonly config: ResolvedConfig;
  readonly engines: Readonly<Record<string, EngineDef>>;
  /** Who makes the transitions (history's `by`). */
  readonly by: string;
  /** Aborted when the runner is told to stop now (a second signal): running jobs go back to the queue. */
  readonly cancel: AbortSignal;
}

/** Where the job is while it runs: what settle needs when anything throws midway. */
export interface JobProgress {
  readonly id: string;
  stage: Stage;
  /** The config's default until the job's own frontmatter is read. */
  maxAttempts: number;
}
