import { AqError } from "./errors.ts";
import { newJobId, checkJobId } from "./job-id.ts";
import { parseJob, renderJob } from "./job-file.ts";
import type { Origin, ProcessRef } from "./meta.ts";
import type { JobRecord, QueueStore } from "./queue-store.ts";

/** A job that comes from elsewhere (a tracker item, a fleet claim) rather than a file. */
export interface MaterializeInput {
  /** Preferred id; a fresh one is made from `title` otherwise. */
  readonly id?: string;
  readonly title?: string;
  /** The prompt. It may carry its own frontmatter; `options` win over it. */
  readonly body: string;
  readonly options?: Record<string, unknown>;
  readonly origin: Origin;
  /** Extra meta.json keys (a fleet job's lease). */
  readonly extra?: Record<string, unknown>;
}

/**
 * Turns outside work into a local job, validated exactly like a job file, so the unchanged
 * core runs it. Written once here: `aq add --from-tracker` and the fleet claim both use it.
 */
export async function materialize(
  store: QueueStore,
  input: MaterializeInput,
  placement: { stage: "queued" | "assigned"; by: string; owner?: ProcessRef },
): Promise<JobRecord> {
  const { id, text, spec } = renderInput(input);
  return store.create(
    { id, text, spec, origin: input.origin, ...(input.extra ? { extra: input.extra } : {}) },
    { stage: placement.stage, by: placement.by, ...(placement.owner ? { owner: placement.owner } : {}) },
  );
}

/**
 * The job file an input becomes, validated like any job file; throws a one-line AqError when it
 * cannot run. A plugin may call it (checkJobInput) before answering with the input.
 */
function renderInput(input: MaterializeInput) {
  const own = input.body.startsWith("---") ? parseJob(input.body, `${input.origin.kind} job`) : undefined;
  const body = own ? own.body : input.body;
  const frontmatter = { ...own?.frontmatter, ...input.options };
  const text = renderJob(frontmatter, body);
  const spec = parseJob(text, `${input.origin.kind} job${input.id ? ` ${input.id}` : ""}`);
  const id = input.id ? checkJobId(input.id) : newJobId(input.title);
  if (!id) throw new AqError("AQ_BAD_JOB", "materialized job has no id");
  return { id, text, spec };
}

/** Why an input would not make a runnable job (one line), or undefined when it would. */
export function checkJobInput(input: MaterializeInput): string | undefined {
  try {
    renderInput(input);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message.split("\n", 1)[0] : String(error);
  }
}
