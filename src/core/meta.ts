import { constants, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as v from "valibot";
import { writeFileAtomic } from "./atomic-file.ts";
import { AqError, isErrno, oneLine } from "./errors.ts";
import { STAGE_NAMES, type Stage } from "./stages.ts";
import { shapeCheck } from "./shape-check.ts";
import { check } from "./validation.ts";

const StageSchema = v.picklist(STAGE_NAMES);

const ProcessRefSchema = v.object({ pid: v.number(), startTime: v.optional(v.string()), host: v.optional(v.string()) });
export type ProcessRef = v.InferOutput<typeof ProcessRefSchema>;

const HistoryEntrySchema = v.object({
  from: v.nullable(StageSchema),
  to: StageSchema,
  at: v.string(),
  by: v.string(),
  reason: v.optional(v.string()),
});
export type HistoryEntry = v.InferOutput<typeof HistoryEntrySchema>;

/**
 * Where a job came from: `local` (a file, `aq add`), or a kind a plugin declares (its `origins`),
 * a short lowercase word. The core names no plugin's kind.
 */
export const ORIGIN_KIND = /^[a-z][a-z0-9-]{0,39}$/;
const OriginSchema = v.looseObject({
  kind: v.pipe(v.string(), v.regex(ORIGIN_KIND, "must be a short lowercase word such as local")),
});
export type Origin = v.InferOutput<typeof OriginSchema> & Record<string, unknown>;

/** Something that happened to a job besides its moves (a fenced-abort), kept in meta.events. */
const JobEventSchema = v.looseObject({ type: v.string(), at: v.string(), detail: v.optional(v.string()) });
export type JobEvent = v.InferOutput<typeof JobEventSchema>;

/** What an agent CLI reported about its session (src/core/agent-output reads it from the CLI's output). */
const AgentSchema = v.looseObject({
  /** The engine that ran (claude, codex, gemini, or a configured one). */
  name: v.string(),
  sessionId: v.optional(v.string()),
  model: v.optional(v.string()),
  /** Model turns as the CLI counts them (Claude Code's num_turns; Codex's completed turns). */
  turns: v.optional(v.number()),
  toolCalls: v.optional(v.number()),
  inputTokens: v.optional(v.number()),
  outputTokens: v.optional(v.number()),
  costUsd: v.optional(v.number()),
  /** The last time the agent printed anything: a working agent moves it, a stuck one does not. */
  lastActivityAt: v.optional(v.string()),
});
export type AgentInfo = v.InferOutput<typeof AgentSchema>;

export const MetaSchema = v.looseObject({
  id: v.string(),
  stage: StageSchema,
  attempts: v.number(),
  priority: v.number(),
  createdAt: v.string(),
  origin: OriginSchema,
  /** The job's named lock, copied from its frontmatter so a claim need not parse job.md. */
  lock: v.optional(v.string()),
  /** The tracker item the job echoes to, copied from its frontmatter. */
  tracker: v.optional(v.string()),
  history: v.array(HistoryEntrySchema),
  reason: v.optional(v.string()),
  /** Not claimable before this time (retry backoff). */
  notBefore: v.optional(v.string()),
  /** The runner process that holds the job while it is assigned or building. */
  owner: v.optional(ProcessRefSchema),
  /**
   * The mark of this attempt: every process aq starts for it (setup, engine) carries it as
   * AQ_ENGINE_MARK, recorded before any of them starts, so a recovering runner ends exactly those.
   */
  mark: v.optional(v.string()),
  /** The engine's process group while it runs (its leader's start time, so a reused pid is not taken for it). */
  engine: v.optional(
    v.object({
      name: v.string(),
      pgid: v.optional(v.number()),
      startTime: v.optional(v.string()),
      startedAt: v.string(),
    }),
  ),
  /** A failed job's next step, written with the move into failed/: a crash before it is made is completed by recovery. */
  requeue: v.optional(
    v.object({ to: v.picklist(["queued", "dead_letter"]), reason: v.string(), notBefore: v.optional(v.string()) }),
  ),
  worktree: v.optional(
    v.object({ path: v.string(), repo: v.string(), baseBranch: v.string(), baseCommit: v.string() }),
  ),
  wip: v.optional(v.object({ branch: v.string(), commit: v.string() })),
  /** Start the job's new branch at this commit rather than the base, when it is in reach (any plugin may set it). */
  resumeFrom: v.optional(v.looseObject({ commit: v.string() })),
  events: v.optional(v.array(JobEventSchema)),
  shipped: v.optional(v.object({ commit: v.string(), into: v.string() })),
  /** The agent CLI's session as it reported it: kept after the run, for `aq status` and the dashboard. */
  agent: v.optional(AgentSchema),
});

/** meta.json: the job's manifest. Plugins may add keys (kept as written). */
export type JobMeta = v.InferOutput<typeof MetaSchema>;

/** A meta.json as the store writes it needs no copy by valibot (thousands are read per `aq status`). */
const isPlainMeta = shapeCheck(MetaSchema);

/** Job files are opened so that a symbolic link is refused, never followed. */
export const NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

export async function readMeta(path: string): Promise<JobMeta> {
  let text: string;
  try {
    text = await readFile(path, { encoding: "utf8", flag: NO_FOLLOW });
  } catch (error) {
    throw unreadable(path, error);
  }
  return parseMeta(path, text);
}

const READ_SYNC = { encoding: "utf8", flag: NO_FOLLOW } as const;

/**
 * The same, synchronously: a meta.json is a few hundred bytes, and listing thousands of them
 * (status, claims) is several times faster without a thread-pool round trip per file.
 */
export function readMetaSync(path: string): JobMeta {
  let text: string;
  try {
    text = readFileSync(path, READ_SYNC);
  } catch (error) {
    throw unreadable(path, error);
  }
  return parseMeta(path, text);
}

function unreadable(path: string, error: unknown): AqError {
  if (isErrno(error, "ENOENT")) return new AqError("AQ_NOT_FOUND", `${path}: missing`);
  if (isErrno(error, "ELOOP"))
    return new AqError("AQ_BAD_JOB", `${path}: is a symbolic link (aq follows no link inside the queue)`);
  return new AqError("AQ_BAD_JOB", `${path}: cannot be read: ${oneLine(error)}`);
}

function parseMeta(path: string, text: string): JobMeta {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AqError("AQ_BAD_JOB", `${path}: not valid JSON: ${oneLine(error)}`);
  }
  if (isPlainMeta(json)) return json as JobMeta;
  const result = check(MetaSchema, json);
  if (!result.ok) throw new AqError("AQ_BAD_JOB", `${path}: ${result.problem}`);
  return result.value;
}

/** `durable: false` for what matters only while this machine stays up (see writeFileAtomic). */
export async function writeMeta(path: string, meta: JobMeta, options: { durable?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(meta, null, 2)}\n`, options);
}

/** The meta without the record of a running engine (it ran, and is gone). */
export function withoutEngine(meta: JobMeta): JobMeta {
  const { engine: _, ...rest } = meta;
  return rest;
}

export type { Stage };
